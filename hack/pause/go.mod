module github.com/mlops-platform/hack/pause

go 1.25.0

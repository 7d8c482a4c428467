"""`python -m flows.zombie_runs POOL`: the automation that marks the zombie flow runs of a pool Crashed.

A flow run whose process vanished with its pod, node or worker (an OOM kill of the whole pod, a node lost)
stays Running for ever: nothing is left to report its end, and a deployment's concurrency slot (ingest and
prepare have one) stays taken, so every later pipeline waits. Prefect's own mechanism for this is an
automation on missing heartbeats: every flow run the pool's worker starts sends one each
PREFECT_FLOWS_HEARTBEAT_FREQUENCY seconds (the chart's pool template and `make up`'s worker set it), and when
a run has reported Running or a heartbeat and then neither another heartbeat nor a final state within
ZOMBIE_AFTER, the automation moves it to Crashed, which frees its slot. Running arms it as well as a
heartbeat because a process killed in the fraction of a second between the two never beats at all. Only the
pool's runs are watched: a flow run elsewhere (a script, a subflow) need not heartbeat. The worker's init
container (and `make up`) installs it; installing again replaces it.
"""

from __future__ import annotations

import sys
from datetime import timedelta

from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification

HEARTBEAT_SECONDS = 30  # Prefect's minimum heartbeat interval
ZOMBIE_AFTER = timedelta(seconds=3 * HEARTBEAT_SECONDS)  # three heartbeats missed: not a slow one
FINAL_EVENTS = ("Completed", "Failed", "Cancelled", "Crashed")


def automation_name(pool: str) -> str:
    return f"mlops: crash zombie flow runs of pool {pool}"


def reaper(pool: str) -> AutomationCore:
    return AutomationCore(
        name=automation_name(pool),
        description="A flow run that reported Running or a heartbeat, then neither a heartbeat nor a final "
        "state, is a zombie.",
        trigger=EventTrigger(
            after={"prefect.flow-run.Running", "prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", *(f"prefect.flow-run.{state}" for state in FINAL_EVENTS)},
            match=ResourceSpecification({"prefect.resource.id": "prefect.flow-run.*"}),
            # The server's state events and the engine's heartbeats both name the run's pool.
            match_related=ResourceSpecification(
                {"prefect.resource.role": "work-pool", "prefect.resource.name": pool}
            ),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=ZOMBIE_AFTER,
        ),
        actions=[
            ChangeFlowRunState(
                name="Crashed",
                state=StateType.CRASHED,
                message=f"no heartbeat for {ZOMBIE_AFTER.total_seconds():.0f} s: its process is gone",
                force=False,  # an ordinary transition: a run that has ended meanwhile stays as it ended
            )
        ],
    )


def install(pool: str) -> str:
    """Create the pool's automation, replacing any of the same name; returns its id."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        for old in client.read_automations_by_name(name=automation_name(pool)):
            client.delete_automation(old.id)
        return str(client.create_automation(reaper(pool)))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m flows.zombie_runs POOL", file=sys.stderr)
        return 2
    [pool] = argv
    print(f"automation {automation_name(pool)!r} installed: {install(pool)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

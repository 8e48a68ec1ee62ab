"""Re-enqueue jobs the broker lost or whose worker died; fail those out of tries (sweeping.jobs_sweep);
and, every SWEEP_ORPHANS_EVERY seconds, remove stored files no row names (sweeping.storage_sweep).

Runs once, or with --every N as a small long-lived process (make run-stack starts one). It talks to the
database and sends plain messages, so it works while Celery workers are down and keeps trying while
Redis is down, which a Celery beat schedule could not.
"""
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from detection import sweeping


class Command(BaseCommand):
    help = "Re-enqueue detection jobs stuck queued or running past their deadline; fail them after a limit."

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=0, help="repeat every N seconds (0: run once)")
        parser.add_argument("--runs", type=int, default=0, help="with --every: stop after this many runs")
        parser.add_argument("--queued-after", type=float, default=None,
                            help="seconds a queued job's message may be missing (default SWEEP_QUEUED_SECONDS)")
        parser.add_argument("--orphans-every", type=float, default=None,
                            help="seconds between orphaned-file sweeps (default SWEEP_ORPHANS_EVERY; 0: never)")

    def handle(self, *args, every: float, runs: int, queued_after, orphans_every, **options):
        orphans_every = settings.SWEEP_ORPHANS_EVERY if orphans_every is None else orphans_every
        done = 0
        orphans_at = float("-inf")
        while True:
            if orphans_every and time.monotonic() - orphans_at >= orphans_every:
                orphans_at = time.monotonic()
                try:
                    orphans = sweeping.storage_sweep()
                except Exception as exc:  # storage or the database is away: next time
                    self.stderr.write(f"orphan sweep failed: {exc}")
                    close_old_connections()
                else:
                    self.stdout.write(f"orphaned files removed {len(orphans.removed)} "
                                      f"(kept {orphans.kept_young} younger than SWEEP_ORPHAN_SECONDS)")
            try:
                report = sweeping.jobs_sweep(queued_after=queued_after)
            except Exception as exc:  # the database is away: say so, try again next time
                self.stderr.write(f"sweep failed: {exc}")
                close_old_connections()
            else:
                self.stdout.write(
                    f"requeued {len(report.requeued)} failed {len(report.failed)} "
                    f"pending {report.skipped_pending}" + (f" broker error: {report.broker_error}" if report.broker_error else "")
                )
                self.stdout.flush()
            done += 1
            if not every or (runs and done >= runs):
                return
            time.sleep(every)

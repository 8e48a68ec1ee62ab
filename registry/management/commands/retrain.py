"""manage.py retrain [--minutes N]: train a candidate on the moderators' reviewed items plus base data,
warm-started from the serving model, and register it (resumable: features are cached in REGISTRY_WORK_DIR)."""
import sys

from django.core.management.base import BaseCommand, CommandError

from registry import retraining
from registry.models import RetrainRun


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--minutes", type=float, default=30.0, help="time budget (default 30)")

    def handle(self, *args, minutes, **options):
        run = RetrainRun.objects.create(minutes=minutes)
        try:
            candidate = retraining.run(run.pk, progress=self._bar)
        except Exception as exc:  # the run row holds the reason too
            sys.stderr.write("\n")
            raise CommandError(f"retraining failed: {exc}") from exc
        sys.stderr.write("\n")
        trained = candidate.card.get("trained_on", {})
        self.stdout.write(f"registered candidate {candidate.version}: {trained.get('reviewed', '?')} reviewed and "
                          f"{trained.get('base', '?')} base items; next: manage.py models gate {candidate.version}")

    @staticmethod
    def _bar(stage: str, fraction: float) -> None:
        done = int(30 * max(0.0, min(1.0, fraction)))
        sys.stderr.write(f"\r{stage:12} [{'#' * done}{'.' * (30 - done)}] {fraction:4.0%}")
        sys.stderr.flush()

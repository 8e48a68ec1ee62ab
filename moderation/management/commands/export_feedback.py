"""manage.py export_feedback DIR: the moderators' reviewed media and labels, written where ml.training.prepare reads them."""
from django.core.management.base import BaseCommand

from moderation.feedback import feedback_export


class Command(BaseCommand):
    help = "Write reviewed media with the moderators' labels into DIR (DIR/labels.csv: path,label,kind,method)."

    def add_arguments(self, parser):
        parser.add_argument("dir", help="output folder, e.g. feedback/train; then DEEPFAKE_DATA=feedback python -m ml.training.prepare --split train")

    def handle(self, *args, dir: str, **options):
        rows = feedback_export(out_dir=dir)
        fakes = sum(r["label"] == "fake" for r in rows)
        self.stdout.write(f"wrote {len(rows)} reviewed items ({fakes} fake, {len(rows) - fakes} real) to {dir}")

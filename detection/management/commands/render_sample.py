"""manage.py render_sample [--media CLIP] [--out DIR]: the front page's sample result from a real run of the
current detector (detection.sample)."""
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from detection import detector
from detection.sample import sample_dir, sample_render

# A two-second talking-head clip of data/train (real footage); the picture written is one analysed frame.
DEFAULT_CLIP = "train/FuxiVirtualHuman_styletalk/samples/source_video/video/KristiNoem.mp4"


class Command(BaseCommand):
    help = "Render the front page's sample result (picture and figures) from a run of the current detector."

    def add_arguments(self, parser):
        parser.add_argument("--media", help=f"the clip or photo to analyse (default: $DEEPFAKE_DATA/{DEFAULT_CLIP})")
        parser.add_argument("--out", type=Path, help="where to write the picture and figures (default: static/img)")

    def handle(self, *args, media=None, out=None, **options):
        import os

        media = Path(media or Path(os.environ.get("DEEPFAKE_DATA") or settings.BASE_DIR.parent / "shared" / "data")
                     / DEFAULT_CLIP)
        if not media.exists():
            raise CommandError(f"{media} does not exist: pass --media or set DEEPFAKE_DATA")
        try:
            figures = sample_render(media=media, out=out or sample_dir(), predictor=detector.get_predictor())
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{figures['verdict_words']} (score {figures['score']:.3f}, threshold "
                          f"{figures['threshold']:.2f}) by {figures['model_version']}; wrote {out or sample_dir()}")

"""Tables of the detection app: an upload (Media), its analysis (DetectionJob) and its per-frame results."""
from django.conf import settings
from django.db import models
from django.utils import timezone

from . import verdicts
from .storage import get_private_storage


class Media(models.Model):
    class Kind(models.TextChoices):
        VIDEO = "video", "Video"
        IMAGE = "image", "Image"
        AUDIO = "audio", "Audio"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="media")
    original_name = models.CharField(max_length=255)  # sanitised, shown to people only
    sha256 = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    format = models.CharField(max_length=8)
    file = models.FileField(storage=get_private_storage, max_length=255)  # random name
    size = models.BigIntegerField()
    duration = models.FloatField(default=0.0)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "sha256"], name="media_unique_owner_sha256")]
        permissions = [("review_media", "Can review flagged media")]
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.owner})"


class DetectionJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    FINAL = (Status.DONE, Status.FAILED)

    media = models.OneToOneField(Media, on_delete=models.CASCADE, related_name="job")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED, db_index=True)
    progress = models.PositiveSmallIntegerField(default=0)  # 0-100
    stage = models.CharField(max_length=32, default="queued")
    attempts = models.PositiveSmallIntegerField(default=0)
    error_code = models.CharField(max_length=32, blank=True)
    error_message = models.TextField(blank=True)
    model_version = models.CharField(max_length=64, blank=True, db_index=True)
    score = models.FloatField(null=True, blank=True)  # probability of fake
    threshold = models.FloatField(null=True, blank=True)
    faces_found = models.PositiveIntegerField(default=0)
    # The verdict in words (detection.verdicts), fixed when the job ends with the band then in force.
    verdict = models.CharField(max_length=16, blank=True, db_index=True)  # fake | authentic | inconclusive
    verdict_reason = models.CharField(max_length=16, blank=True)  # why inconclusive
    # Which evidence drove the verdict (detection.evidence): face | voice | sync | whole_image | "".
    verdict_driver = models.CharField(max_length=16, blank=True)
    # The parts of a clip score (ml.inference.result.Prediction.clip_parts): frame mean, top-k, temporal.
    clip_parts = models.JSONField(null=True, blank=True)
    # How a browser plays the video (detection.previews): "native", "preview" (this file), "none"; "" for images.
    playback = models.CharField(max_length=8, blank=True)
    preview = models.FileField(storage=get_private_storage, max_length=255, blank=True)
    model_card = models.JSONField(default=dict, blank=True)  # summary of the card of the model that ran
    timings = models.JSONField(default=dict, blank=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    # For the sweeper (sweeping.jobs_sweep): when a message was last sent for this job, how many times
    # the sweeper sent one again, and which process (host:pid) holds the current claim.
    enqueued_at = models.DateTimeField(default=timezone.now)
    requeues = models.PositiveSmallIntegerField(default=0)
    claimed_by = models.CharField(max_length=128, blank=True)
    # Written every JOB_HEARTBEAT_SECONDS while a worker runs the job: a claim from another host whose
    # heartbeat stopped is known dead without asking that host.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"job {self.pk} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL

    @property
    def verdict_obj(self):
        """The stored verdict (detection.verdicts.Verdict), or None."""
        return verdicts.stored(self.verdict, self.verdict_reason)


class FrameResult(models.Model):
    job = models.ForeignKey(DetectionJob, on_delete=models.CASCADE, related_name="frames")
    index = models.PositiveIntegerField()  # frame index in the source
    time = models.FloatField()  # seconds
    x0 = models.IntegerField()
    y0 = models.IntegerField()
    x1 = models.IntegerField()
    y1 = models.IntegerField()
    score = models.FloatField()
    track = models.PositiveSmallIntegerField(default=0)
    heatmap = models.FileField(storage=get_private_storage, max_length=255, blank=True)
    thumbnail = models.FileField(storage=get_private_storage, max_length=255, blank=True)

    class Meta:
        ordering = ["time", "track", "id"]

    def __str__(self) -> str:
        return f"frame {self.index} of job {self.job_id}"


class EvidenceStatus(models.TextChoices):
    """How an analysis beside the face detector ended; anything but OK leaves the face verdict alone."""

    OK = "ok", "Analysed"
    NO_SPEECH = "no_speech", "No speech found"
    NO_AUDIO = "no_audio", "No sound track"
    NO_FACE = "no_face", "No face found"
    SKIPPED = "skipped", "Not analysed"
    ERROR = "error", "Could not be analysed"


class VoiceEvidence(models.Model):
    """The voice detector's reading of an audio upload or a video's sound track (ml.audio.VoicePredictor)."""

    job = models.OneToOneField(DetectionJob, on_delete=models.CASCADE, related_name="voice")
    status = models.CharField(max_length=16, choices=EvidenceStatus.choices)
    reason_code = models.CharField(max_length=32, blank=True)  # stable code when not ok
    reason = models.TextField(blank=True)  # the same in words
    score = models.FloatField(null=True, blank=True)  # calibrated P(synthetic speech) of the whole clip
    threshold = models.FloatField(null=True, blank=True)
    model_version = models.CharField(max_length=64, blank=True, db_index=True)
    duration = models.FloatField(default=0.0)  # seconds of sound
    speech_seconds = models.FloatField(default=0.0)
    seconds = models.JSONField(default=list, blank=True)  # [{"start", "end", "speech", "score"}, ...]
    image = models.FileField(storage=get_private_storage, max_length=255, blank=True)  # spectrogram PNG
    image_seconds = models.FloatField(default=0.0)  # seconds the spectrogram spans, left to right
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"voice of job {self.job_id} ({self.status})"

    @property
    def speech_share(self) -> float | None:
        return round(self.speech_seconds / self.duration, 3) if self.duration else None


class SyncEvidence(models.Model):
    """How well lips and speech agree in a video with a face and speech (ml.sync.SyncChecker)."""

    job = models.OneToOneField(DetectionJob, on_delete=models.CASCADE, related_name="sync")
    status = models.CharField(max_length=16, choices=EvidenceStatus.choices)
    reason_code = models.CharField(max_length=32, blank=True)
    reason = models.TextField(blank=True)
    score = models.FloatField(null=True, blank=True)  # calibrated P(lips out of sync / lip-synced)
    threshold = models.FloatField(null=True, blank=True)
    offset = models.FloatField(null=True, blank=True)  # seconds, + means the sound is late
    method_version = models.CharField(max_length=64, blank=True)
    segments = models.JSONField(default=list, blank=True)  # [{"start", "end", "offset_s", "confidence", "score"}]
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"lip sync of job {self.job_id} ({self.status})"


class WholeImageEvidence(models.Model):
    """The whole-picture reading of an image without a face (ml.inference.whole_image, detection.whole_image)."""

    job = models.OneToOneField(DetectionJob, on_delete=models.CASCADE, related_name="whole_image")
    status = models.CharField(max_length=16, choices=EvidenceStatus.choices)
    reason_code = models.CharField(max_length=32, blank=True)  # stable code when not ok
    reason = models.TextField(blank=True)  # the same in words (detection.whole_image.REASONS)
    score = models.FloatField(null=True, blank=True)  # P(generated as a whole picture)
    threshold = models.FloatField(null=True, blank=True)
    model_version = models.CharField(max_length=64, blank=True, db_index=True)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"whole picture of job {self.job_id} ({self.status})"

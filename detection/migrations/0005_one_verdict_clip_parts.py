"""One vocabulary (issue 32): finished jobs without a stored verdict get one from their score, the raw
fake/real ``label`` goes, and the parts of a clip score are kept with the job."""
from django.conf import settings
from django.db import migrations, models


def backfill_verdicts(apps, schema_editor):
    from detection import verdicts

    Job = apps.get_model("detection", "DetectionJob")
    band = getattr(settings, "RESULT_INCONCLUSIVE_BAND", 0.1)
    for job in Job.objects.filter(status="done", verdict="").exclude(score=None).iterator():
        verdict = verdicts.decide(score=job.score, threshold=0.5 if job.threshold is None else job.threshold,
                                  band=band, faces_found=job.faces_found or 1)
        Job.objects.filter(pk=job.pk).update(verdict=verdict.key, verdict_reason=verdict.reason)


class Migration(migrations.Migration):

    dependencies = [
        ('detection', '0004_job_heartbeat'),
    ]

    operations = [
        migrations.RunPython(backfill_verdicts, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name='detectionjob',
            name='label',
        ),
        migrations.AddField(
            model_name='detectionjob',
            name='clip_parts',
            field=models.JSONField(blank=True, null=True),
        ),
    ]

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('detection', '0007_voice_and_sync_evidence'),
    ]

    operations = [
        migrations.CreateModel(
            name='WholeImageEvidence',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('status', models.CharField(choices=[('ok', 'Analysed'), ('no_speech', 'No speech found'), ('no_audio', 'No sound track'), ('no_face', 'No face found'), ('skipped', 'Not analysed'), ('error', 'Could not be analysed')], max_length=16)),
                ('reason_code', models.CharField(blank=True, max_length=32)),
                ('reason', models.TextField(blank=True)),
                ('score', models.FloatField(blank=True, null=True)),
                ('threshold', models.FloatField(blank=True, null=True)),
                ('model_version', models.CharField(blank=True, db_index=True, max_length=64)),
                ('created', models.DateTimeField(auto_now_add=True)),
                ('job', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='whole_image', to='detection.detectionjob')),
            ],
        ),
    ]

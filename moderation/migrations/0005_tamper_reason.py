# Issue 31: the tamper signal's reason for review.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('moderation', '0004_synthetic_voice_reason'),
    ]

    operations = [
        migrations.AddField(
            model_name='moderationitem',
            name='may_be_altered',
            field=models.BooleanField(default=False),
        ),
    ]

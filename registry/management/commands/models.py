"""manage.py models list | init | register FILE | gate VERSION | shadow VERSION | unshadow VERSION |
promote VERSION | rollback | retire VERSION: the registry from the terminal, each change audited."""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from registry import gate, versions
from registry.models import ModelVersion


# The actions that change one version's status, and what the terminal says after each.
CHANGES = {
    "promote": (versions.promote, "is serving"),
    "shadow": (versions.set_shadow, "is in shadow"),
    "unshadow": (versions.unshadow, "is out of shadow"),
    "retire": (versions.retire, "is retired"),
}


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["list", "init", "register", "gate", "shadow", "unshadow", "promote",
                                               "rollback", "retire"])
        parser.add_argument("target", nargs="?", help="a version name, or a checkpoint file for register")
        parser.add_argument("--user", default="", help="the admin to record as the actor (default: the system)")

    def handle(self, *args, action, target, user, **options):
        actor = get_user_model().objects.filter(username=user).first() if user else None
        if user and actor is None:
            raise CommandError(f"No user named {user}.")
        try:
            if action == "list":
                return self._list()
            if action == "init":
                row = versions.ensure_embedded()
                self.stdout.write(f"serving: {row.version}")
                return
            if action == "rollback":
                back = versions.rollback(actor=actor)
                self.stdout.write(f"rolled back: {back.version} serves again")
                return
            if not target:
                raise CommandError(f"models {action} needs a {'file' if action == 'register' else 'version'}.")
            if action == "register":
                row = versions.register(target, actor=actor)
                self.stdout.write(f"registered {row.version} ({row.status}, sha256 {row.sha256[:12]})")
                return
            version = ModelVersion.objects.filter(version=target).first()
            if version is None:
                raise CommandError(f"No model version {target}.")
            if action == "gate":
                self._print_gate(gate.run_gate(version, actor=actor))
                return
            change, words = CHANGES[action]
            change(version, actor=actor)
            self.stdout.write(f"{version.version} {words}")
        except versions.RegistryError as exc:
            raise CommandError(str(exc)) from exc

    def _list(self):
        for row in ModelVersion.objects.order_by("created"):
            passed = {True: "gate passed", False: "gate failed"}.get(row.gate.get("passed") if row.gate else None, "no gate")
            self.stdout.write(f"{row.status:9} {row.version}  sha256 {row.sha256[:12]}  {row.source}  {passed}")

    def _print_gate(self, result: dict):
        self.stdout.write(f"gate set: {result['items']} items ({result['real']} real, {result['fake']} fake)")
        keys = ("auc", "auc_ci", "accuracy", "precision", "recall", "f1", "ece", "threshold", "n_scored")
        for role in ("candidate", "serving"):
            m = result[role]
            figures = "  ".join(f"{k} {m.get(k)}" if not isinstance(m.get(k), float) else f"{k} {m[k]:.3f}" for k in keys)
            self.stdout.write(f"{role:9} {m['version']}: {figures}")
        self.stdout.write("PASSED" if result["passed"] else "REFUSED: " + " ".join(result["reasons"]))

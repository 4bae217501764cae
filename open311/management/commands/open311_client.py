"""Manage Open311 clients: `create NAME [--acts-as USERNAME]` prints the new key once; `list`; `deactivate NAME`."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from open311.models import Open311Client
from open311.services import client_create


class Command(BaseCommand):
    help = "Create, list or deactivate the clients allowed to post Open311 service requests."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="create a client and print its API key (shown only once)")
        create.add_argument("name")
        create.add_argument("--acts-as", help="username of the staff account recorded as the reporter")
        actions.add_parser("list", help="list the clients")
        deactivate = actions.add_parser("deactivate", help="refuse the client's key from now on")
        deactivate.add_argument("name")

    def handle(self, *args, action, **options):
        if action == "create":
            acts_as = None
            if options["acts_as"]:
                acts_as = get_user_model().objects.filter(username=options["acts_as"]).first()
                if acts_as is None:
                    raise CommandError(f"No user {options['acts_as']}.")
            try:
                client, key = client_create(name=options["name"], acts_as=acts_as)
            except ValidationError as error:
                raise CommandError("; ".join(m for ms in error.message_dict.values() for m in ms)) from error
            self.stderr.write(f"Created Open311 client {client.name}. Its API key, shown only this once:")
            self.stdout.write(key)
        elif action == "list":
            for client in Open311Client.objects.all():
                state = "active" if client.active else "inactive"
                self.stdout.write(f"{client.name}\t{client.key_prefix}…\t{state}\t{client.last_used_at or '-'}")
        elif action == "deactivate":
            if not Open311Client.objects.filter(name=options["name"]).update(active=False):
                raise CommandError(f"No client {options['name']}.")
            self.stdout.write(f"Deactivated {options['name']}.")

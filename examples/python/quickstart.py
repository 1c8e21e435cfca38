#!/usr/bin/env python3
"""Quickstart: the STP Cooperation Tracker API from Python.

What it does, against a running server:
  1. makes sure the host and partner countries exist (Egypt, China),
  2. creates two organisations and a project, with a request_id, and retries the create to show
     that a retry gives the same project instead of a second one,
  3. waits for the project's score and prints it with every component's reasons,
  4. subscribes to the project's events, updates the project (stage -> APPROVED, with its etag
     and an update mask) and watches until its own update arrives,
  5. shows what errors look like: a stale etag (ABORTED) and an invalid project
     (INVALID_ARGUMENT with one field violation per problem).

Run it (the stubs come from tools/python/generate.sh; their directory must be on sys.path):
    tools/python/generate.sh .stubs/python
    PYTHONPATH=.stubs/python /usr/bin/python3 examples/python/quickstart.py

Environment:
    STP_ADDRESS       host:port of the API (default 127.0.0.1:50051)
    STP_API_KEY       API key, sent as "authorization: Bearer <key>" (optional for local runs
                      with authentication disabled)
    STP_TLS_CA        PEM CA bundle to verify the server with; TLS is used for every address
                      that is not loopback, with the system roots unless this is set
    STP_PLAINTEXT     "1" forces plaintext, "0" forces TLS
    STP_ORGANIZATION  your own organisation ("organizations/{id}"). A PARTNER key may only
                      create projects it takes part in, so set this when you use one.

Exits 0 when every step behaved as documented, 1 otherwise.
"""

import os
import queue
import sys
import threading
import time
import uuid

import grpc

try:
    from google.rpc import error_details_pb2, status_pb2
    from google.type import date_pb2, money_pb2
    from google.protobuf import field_mask_pb2
    from stp.common.v1 import common_pb2
    from stp.events.v1 import events_pb2
    from stp.ingestion.v1 import ingestion_service_pb2 as ingestion
    from stp.ingestion.v1 import ingestion_service_pb2_grpc as ingestion_grpc
    from stp.ingestion.v1 import resources_pb2 as res
    from stp.notification.v1 import notification_service_pb2 as notification
    from stp.notification.v1 import notification_service_pb2_grpc as notification_grpc
    from stp.scoring.v1 import score_pb2
    from stp.scoring.v1 import scoring_service_pb2 as scoring
    from stp.scoring.v1 import scoring_service_pb2_grpc as scoring_grpc
except ImportError as e:
    sys.exit(f"cannot import the generated stubs ({e}).\n"
             "Generate them and put their directory on PYTHONPATH:\n"
             "  tools/python/generate.sh .stubs/python\n"
             "  PYTHONPATH=.stubs/python /usr/bin/python3 examples/python/quickstart.py")

ADDRESS = os.environ.get("STP_ADDRESS", "127.0.0.1:50051")
API_KEY = os.environ.get("STP_API_KEY", "")
MY_ORGANIZATION = os.environ.get("STP_ORGANIZATION", "")

# Every unary call gets a deadline: a call without one can wait forever on a lost connection.
CALL_TIMEOUT = 10.0
# How long to wait for the first score and for our own event.
SCORE_WAIT = 30.0
EVENT_WAIT = 30.0

# Credentials travel as call metadata on every call.
METADATA = (("authorization", "Bearer " + API_KEY),) if API_KEY else ()


class Unexpected(Exception):
    """A step did not behave as the API documents."""


# ------------------------------------------------------------------ connecting

def is_loopback(address):
    host = address.rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


def open_channel(address):
    plaintext = os.environ.get("STP_PLAINTEXT")
    use_tls = plaintext == "0" or (plaintext != "1" and not is_loopback(address))
    if not use_tls:
        return grpc.insecure_channel(address)
    root = None
    if os.environ.get("STP_TLS_CA"):
        with open(os.environ["STP_TLS_CA"], "rb") as f:
            root = f.read()
    return grpc.secure_channel(address, grpc.ssl_channel_credentials(root_certificates=root))


# ------------------------------------------------------------------ errors

def status_details(err):
    """Decodes the google.rpc.Status the server sends in the "grpc-status-details-bin" trailer.

    Returns the list of detail messages (BadRequest, ErrorInfo, RetryInfo, ...); unknown detail
    types are returned as their google.protobuf.Any.
    """
    for key, value in err.trailing_metadata() or ():
        if key != "grpc-status-details-bin":
            continue
        status = status_pb2.Status.FromString(value)
        details = []
        for any_detail in status.details:
            for cls in (error_details_pb2.BadRequest, error_details_pb2.ErrorInfo,
                        error_details_pb2.RetryInfo, error_details_pb2.PreconditionFailure,
                        error_details_pb2.ResourceInfo, error_details_pb2.QuotaFailure):
                if any_detail.Is(cls.DESCRIPTOR):
                    msg = cls()
                    any_detail.Unpack(msg)
                    details.append(msg)
                    break
            else:
                details.append(any_detail)
        return details
    return []


def describe_error(err):
    lines = [f"{err.code().name}: {err.details()}"]
    for d in status_details(err):
        if isinstance(d, error_details_pb2.BadRequest):
            for v in d.field_violations:
                lines.append(f"  field {v.field}: {v.description}")
        elif isinstance(d, error_details_pb2.ErrorInfo):
            meta = ", ".join(f"{k}={v}" for k, v in sorted(d.metadata.items()))
            lines.append(f"  reason {d.reason} (domain {d.domain}){' ' + meta if meta else ''}")
        elif isinstance(d, error_details_pb2.RetryInfo):
            delay = d.retry_delay.seconds + d.retry_delay.nanos / 1e9
            lines.append(f"  retry after {delay:.3f} s")
        else:
            lines.append(f"  detail {type(d).__name__}: {d}")
    return "\n".join(lines)


# ------------------------------------------------------------------ steps

def ensure_country(reg, alpha2, alpha3, display_name, region, income_group, indicators):
    name = "countries/" + alpha2
    try:
        country = reg.GetCountry(ingestion.GetCountryRequest(name=name),
                                 timeout=CALL_TIMEOUT, metadata=METADATA)
        print(f"  {name} exists ({country.display_name})")
        return country
    except grpc.RpcError as err:
        if err.code() != grpc.StatusCode.NOT_FOUND:
            raise
    country = res.Country(
        alpha2=alpha2, alpha3=alpha3, display_name=display_name, region=region,
        income_group=income_group,
        bri=res.BriMembership(member=True),
        indicators=[res.Indicator(name=k, value=v, as_of=date_pb2.Date(year=2023, month=1, day=1),
                                  source="World Bank WDI") for k, v in indicators.items()])
    country = reg.UpsertCountry(
        ingestion.UpsertCountryRequest(country=country, request_id=str(uuid.uuid4())),
        timeout=CALL_TIMEOUT, metadata=METADATA)
    print(f"  created {country.name} ({country.display_name})")
    return country


def create_organization(reg, **fields):
    org = reg.CreateOrganization(
        ingestion.CreateOrganizationRequest(organization=res.Organization(**fields),
                                            request_id=str(uuid.uuid4())),
        timeout=CALL_TIMEOUT, metadata=METADATA)
    print(f"  created {org.name} ({org.display_name})")
    return org


def create_project(reg, participants):
    project = res.Project(
        title="Green-growth incubator at the Suez Canal technology park",
        description="Solar-powered incubation building and a clean-tech accelerator.",
        host_country="countries/EG",
        avenues=[common_pb2.AVENUE_GREEN_GROWTH],
        dac_sectors=[23210],
        cooperation_model=res.COOPERATION_MODEL_TRIANGULAR_NORTH_OR_MULTILATERAL,
        participants=participants,
        stage=res.PROJECT_STAGE_PROPOSED,
        planned_start=date_pb2.Date(year=2026, month=1, day=1),
        planned_end=date_pb2.Date(year=2028, month=12, day=31),
        financing=res.Financing(budget=money_pb2.Money(currency_code="USD", units=12_000_000)),
        milestones=[res.Milestone(name="Site handed over",
                                  due_date=date_pb2.Date(year=2026, month=6, day=30))],
        external_ids=[common_pb2.ExternalId(source="quickstart", value=str(uuid.uuid4()))],
    )
    # The request_id makes the create safe to retry: send the same one again after a timeout
    # or UNAVAILABLE and you get the same project back, never a second one.
    request = ingestion.CreateProjectRequest(project=project, request_id=str(uuid.uuid4()))
    created = reg.CreateProject(request, timeout=CALL_TIMEOUT, metadata=METADATA)
    print(f"  created {created.name} (revision {created.revision}, etag {created.etag})")
    retried = reg.CreateProject(request, timeout=CALL_TIMEOUT, metadata=METADATA)
    if retried.name != created.name:
        raise Unexpected(f"a retry with the same request_id created {retried.name}")
    print(f"  retried with the same request_id: same project {retried.name}")
    return created


def wait_for_score(scorer, project_name):
    deadline = time.monotonic() + SCORE_WAIT
    while True:
        try:
            return scorer.GetProjectScore(scoring.GetProjectScoreRequest(project=project_name),
                                          timeout=CALL_TIMEOUT, metadata=METADATA)
        except grpc.RpcError as err:
            # Scores are computed from events a moment after the write: NOT_FOUND until then.
            if err.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def print_score(score):
    print(f"  {score.project}: {score.total:.1f} / 100, tier {score_pb2.Tier.Name(score.tier)}, "
          f"confidence {score.confidence:.2f} (model {score.model_version})")
    for c in score.components:
        name = score_pb2.Component.Name(c.component).removeprefix("COMPONENT_").lower()
        if not c.applicable:
            print(f"    {name}: not applicable")
            continue
        print(f"    {name}: {c.value:.1f}/100, weight {c.weight:.2f}, "
              f"adds {c.contribution:.1f} points")
        for reason in c.reasons:
            print(f"      - {reason}")


class Subscription:
    """Subscribe on a background thread; messages arrive on a queue."""

    def __init__(self, notifier, request):
        self.messages = queue.Queue()
        # The stream's deadline bounds the whole subscription, like any call's.
        self.call = notifier.Subscribe(request, timeout=EVENT_WAIT + 30, metadata=METADATA)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for message in self.call:
                self.messages.put(message)
        except grpc.RpcError as err:
            self.messages.put(err)

    def next(self, deadline):
        item = self.messages.get(timeout=max(0.0, deadline - time.monotonic()))
        if isinstance(item, grpc.RpcError):
            raise item
        return item

    def close(self):
        self.call.cancel()
        self.thread.join(timeout=5)


def watch_own_update(reg, notifier, project):
    # Without a cursor a subscription delivers what is committed after it starts. The first
    # message (a heartbeat at the latest after heartbeat_seconds) proves it has started, so
    # the update is made only then.
    sub = Subscription(notifier, notification.SubscribeRequest(
        filter=notification.EventFilter(projects=[project.name]), heartbeat_seconds=1))
    try:
        deadline = time.monotonic() + EVENT_WAIT
        first = sub.next(deadline)
        print(f"  subscribed; cursor {first.cursor}")

        update_id = str(uuid.uuid4())
        updated = reg.UpdateProject(
            ingestion.UpdateProjectRequest(
                project=res.Project(name=project.name, stage=res.PROJECT_STAGE_APPROVED),
                update_mask=field_mask_pb2.FieldMask(paths=["stage"]),
                etag=project.etag, request_id=update_id),
            timeout=CALL_TIMEOUT, metadata=METADATA)
        print(f"  updated {updated.name}: stage {res.ProjectStage.Name(updated.stage)}, "
              f"revision {updated.revision}, request_id {update_id}")

        while True:
            try:
                message = sub.next(deadline)
            except queue.Empty:
                raise Unexpected(f"no event for request {update_id} within {EVENT_WAIT:.0f} s")
            if message.WhichOneof("kind") != "event":
                continue
            event = message.event
            print(f"  event {events_pb2.EventType.Name(event.type)} {event.resource} "
                  f"revision {event.revision} by {event.actor}; cursor {message.cursor}")
            if event.request_id == update_id:
                print(f"  saw our own update; resume later with cursor {message.cursor}")
                return updated
    finally:
        sub.close()


def show_errors(reg, project, stale_etag):
    print("  UpdateProject with the etag read before our update:")
    try:
        reg.UpdateProject(
            ingestion.UpdateProjectRequest(
                project=res.Project(name=project.name, stage=res.PROJECT_STAGE_FINANCED),
                update_mask=field_mask_pb2.FieldMask(paths=["stage"]),
                etag=stale_etag, request_id=str(uuid.uuid4())),
            timeout=CALL_TIMEOUT, metadata=METADATA)
        raise Unexpected("an update with a stale etag was accepted")
    except grpc.RpcError as err:
        print("    " + describe_error(err).replace("\n", "\n    "))
        if err.code() != grpc.StatusCode.ABORTED:
            raise
        print("    -> re-read the project, re-apply the change, retry")

    print("  CreateProject with no avenue and an unknown host country:")
    try:
        reg.CreateProject(
            ingestion.CreateProjectRequest(
                project=res.Project(title="Incomplete", host_country="countries/ZZ"),
                request_id=str(uuid.uuid4())),
            timeout=CALL_TIMEOUT, metadata=METADATA)
        raise Unexpected("an invalid project was accepted")
    except grpc.RpcError as err:
        print("    " + describe_error(err).replace("\n", "\n    "))
        if err.code() != grpc.StatusCode.INVALID_ARGUMENT:
            raise
        violations = [v for d in status_details(err)
                      if isinstance(d, error_details_pb2.BadRequest) for v in d.field_violations]
        if not violations:
            raise Unexpected("INVALID_ARGUMENT without BadRequest field violations")
        print("    -> fix the fields named and send again")


def main():
    print(f"STP Cooperation Tracker quickstart against {ADDRESS}"
          f"{' with an API key' if API_KEY else ' without credentials'}")
    with open_channel(ADDRESS) as channel:
        reg = ingestion_grpc.IngestionServiceStub(channel)
        scorer = scoring_grpc.ScoringServiceStub(channel)
        notifier = notification_grpc.NotificationServiceStub(channel)
        try:
            print("1. countries")
            ensure_country(reg, "EG", "EGY", "Egypt", "Africa",
                           common_pb2.INCOME_GROUP_LOWER_MIDDLE,
                           {"internet_users_pct": 72.0, "gdp_per_capita_usd": 3500.0})
            ensure_country(reg, "CN", "CHN", "China", "Asia",
                           common_pb2.INCOME_GROUP_UPPER_MIDDLE,
                           {"internet_users_pct": 76.0, "rd_expenditure_pct_gdp": 2.4})

            print("2. organisations and a project")
            tech = create_organization(
                reg, display_name="Shenzhen Science Park Development Co.",
                type=res.ORGANIZATION_TYPE_STP_OPERATOR, country="countries/CN",
                avenues=[common_pb2.AVENUE_GREEN_GROWTH], dac_sectors=[23210],
                roles=[common_pb2.PARTNER_ROLE_TECHNOLOGY_PARTNER], languages=["zh", "en"])
            host = create_organization(
                reg, display_name="Egyptian Ministry of Communications and IT",
                type=res.ORGANIZATION_TYPE_GOVERNMENT, country="countries/EG",
                roles=[common_pb2.PARTNER_ROLE_HOST_GOVERNMENT], languages=["ar", "en"])
            participants = [
                res.Participant(organization=tech.name,
                                role=common_pb2.PARTNER_ROLE_TECHNOLOGY_PARTNER, lead=True),
                res.Participant(organization=host.name,
                                role=common_pb2.PARTNER_ROLE_HOST_GOVERNMENT),
            ]
            if MY_ORGANIZATION:
                participants.append(res.Participant(
                    organization=MY_ORGANIZATION, role=common_pb2.PARTNER_ROLE_IMPLEMENTER))
            project = create_project(reg, participants)

            print("3. score")
            print_score(wait_for_score(scorer, project.name))

            print("4. subscribe, update, see the update")
            watch_own_update(reg, notifier, project)

            print("5. what errors look like")
            show_errors(reg, project, stale_etag=project.etag)
        except grpc.RpcError as err:
            print("call failed: " + describe_error(err), file=sys.stderr)
            return 1
        except Unexpected as err:
            print(f"unexpected: {err}", file=sys.stderr)
            return 1
    print("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())

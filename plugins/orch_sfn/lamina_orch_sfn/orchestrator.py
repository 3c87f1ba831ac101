"""The ``step-functions`` orchestrator: ``deploy`` creates or updates the state machine
(its Batch job definitions, its DynamoDB state table, its EventBridge rules); ``trigger``
starts an execution; ``run`` runs here."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from lamina.sdk import BackendUnreachableError, LaminaError, datastore_spec, record_stack
from lamina_orch_sfn import asl, rules
from lamina_orch_sfn.asl import SfnSettings, batch_name

if TYPE_CHECKING:
    from lamina.sdk import DeploymentPlan, RunRecord
    from lamina_orch_sfn.plugin import StepFunctionsOptions


class StepFunctionsOrchestrator:
    """Compiles a flow into an AWS Step Functions state machine of AWS Batch jobs.

    ``lamina run`` on a stack with this orchestrator runs the flow here with the
    in-process scheduler, on the same datastore and metadata store: that is how a failed
    execution is reproduced on a laptop (``lamina resume RUN``).
    """

    def __init__(self, options: StepFunctionsOptions, stack: Any = None) -> None:
        self.options = options
        self._stack = stack
        self._session: Any = None

    # -- Orchestrator protocol -------------------------------------------------------------

    def run(self, plan: Any, stack: Any) -> RunRecord:
        from lamina.sdk import Scheduler

        return Scheduler(plan).run()

    def deploy(self, plan: DeploymentPlan, stack: Any, *, dry_run: bool = False) -> str:
        """Create or update the state machine; with ``dry_run`` return what would be
        deployed (the ASL, the job definitions and the rules) as JSON."""
        settings = self.settings(plan, stack)
        definitions = asl.job_definitions(settings)
        if dry_run:
            arns = {k: f"<job definition {d['jobDefinitionName']}>" for k, d in definitions.items()}
            upstream = {f: f"<state machine {self.machine_name(f, stack)}>"
                        for f in plan.flow.triggers.on_finish}
            return json.dumps({
                "stateMachine": {"name": settings.name,
                                 "definition": asl.state_machine(plan, settings, arns)},
                "jobDefinitions": list(definitions.values()),
                "rules": rules.rules(plan, settings.name, upstream),
            }, indent=2)
        self._ensure_table()
        batch = self._client("batch")
        arns = {}
        for kind, request in definitions.items():
            done = self._call(f"register the Batch job definition {request['jobDefinitionName']}",
                              batch.register_job_definition, **request)
            arns[kind] = done["jobDefinitionArn"]
        machine_arn = self._put_state_machine(settings.name, asl.state_machine(plan, settings, arns))
        self._put_rules(plan, stack, machine_arn)
        return machine_arn

    def check(self) -> str:
        sfn = self._client("stepfunctions")
        self._call("list state machines", sfn.list_state_machines, maxResults=1)
        return f"step-functions: reachable (job queue {self.options.job_queue})"

    # -- executions ------------------------------------------------------------------------

    def trigger(self, flow: str, stack: Any, params: dict[str, Any] | None = None) -> str:
        """Start an execution of the deployed ``flow`` with ``params``; returns its ARN."""
        sfn = self._client("stepfunctions")
        arn = self.machine_arn(flow, stack)
        import uuid

        done = self._call(f"start an execution of {arn}", sfn.start_execution,
                          stateMachineArn=arn, name=f"lamina-{uuid.uuid4().hex}",
                          input=json.dumps({"params": params or {}}))
        return str(done["executionArn"])

    def send_event(self, name: str, payload: dict[str, Any] | None = None) -> str:
        """Put the event ``name`` with ``payload`` on the default EventBridge bus; the
        rules of flows with ``trigger=name`` start them. Returns the event id."""
        events = self._client("events")
        done = self._call(f"put the event {name!r}", events.put_events, Entries=[{
            "Source": rules.EVENT_SOURCE, "DetailType": rules.EVENT_DETAIL_TYPE,
            "Detail": json.dumps({"name": name, "payload": payload or {}}),
        }])
        entry = done["Entries"][0]
        if entry.get("ErrorCode"):
            raise LaminaError(f"EventBridge refused the event {name!r}: {entry.get('ErrorMessage')}")
        return str(entry.get("EventId", ""))

    # -- names -----------------------------------------------------------------------------

    def machine_name(self, flow: str, stack: Any) -> str:
        """The state machine's name: the prefix and the flow's name qualified by branch."""
        branch = getattr(stack, "branch", None)
        qualified = branch.qualify(flow, "-") if branch is not None else flow
        return batch_name(f"{self.options.state_machine_prefix}{qualified}", 80)

    def machine_arn(self, flow: str, stack: Any) -> str:
        sfn = self._client("stepfunctions")
        region = sfn.meta.region_name
        account = self._account()
        return f"arn:aws:states:{region}:{account}:stateMachine:{self.machine_name(flow, stack)}"

    def settings(self, plan: DeploymentPlan, stack: Any) -> SfnSettings:
        opts = self.options
        config_file = opts.config_file or plan.config_file
        if not config_file:
            raise LaminaError(
                f"stack {plan.stack_name!r} has no config file, but the jobs load the stack "
                "from one",
                hint="define the stack in lamina.toml (or set config_file in the orchestrator "
                "options to the file the jobs read)",
            )
        names = list(plan.params)
        events = {e.name: dict(e.params) if e.params else {p: p for p in names}
                  for e in plan.flow.triggers.events}
        return SfnSettings(
            name=self.machine_name(plan.flow.name, stack), flow=plan.flow.name,
            deployment_id=plan.deployment_id, stack=plan.stack_name, config_file=config_file,
            datastore_spec=datastore_spec(record_stack(stack)), datastore_url=plan.datastore_url,
            image=opts.image, python=opts.python, job_queue=opts.job_queue,
            state_table=opts.state_table, events=events, env=dict(opts.env),
            secrets=dict(opts.secrets), job_role_arn=opts.job_role_arn,
            execution_role_arn=opts.execution_role_arn, cpu=opts.cpu, memory=opts.memory,
            retry_interval=opts.retry_interval, max_concurrency=opts.max_concurrency,
        )

    # -- AWS -------------------------------------------------------------------------------

    def _client(self, service: str) -> Any:
        if self._session is None:
            import boto3

            self._session = boto3.session.Session(region_name=self.options.region)
        return self._session.client(service, endpoint_url=self.options.endpoint_url)

    def _call(self, what: str, fn: Any, **kw: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kw)
        except ClientError as err:
            error = err.response.get("Error", {})
            code = error.get("Code", "")
            if code in ("AccessDenied", "AccessDeniedException", "UnrecognizedClientException"):
                raise BackendUnreachableError(
                    f"AWS refused to {what} ({code}): {error.get('Message', '')}",
                    hint="give the identity lamina deploys with states:*StateMachine*, "
                    "batch:RegisterJobDefinition, dynamodb:CreateTable/DescribeTable, "
                    "events:PutRule/PutTargets and iam:PassRole on the roles",
                ) from None
            raise LaminaError(
                f"AWS could not {what} ({code}): {error.get('Message', '')}",
                hint="check the step-functions options of the stack against the message",
            ) from None
        except BotoCoreError as err:
            raise BackendUnreachableError(
                f"cannot reach AWS to {what}: {err}",
                hint="check region/endpoint_url in the stack's orchestrator options and the "
                "network",
            ) from None

    def _account(self) -> str:
        sts = self._client("sts")
        return str(self._call("read the account id", sts.get_caller_identity)["Account"])

    def _ensure_table(self) -> None:
        ddb = self._client("dynamodb")
        table = self.options.state_table
        try:
            ddb.describe_table(TableName=table)
            return
        except ddb.exceptions.ResourceNotFoundException:
            pass
        self._call(f"create the DynamoDB table {table}", ddb.create_table, TableName=table,
                   KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
                   AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
                   BillingMode="PAY_PER_REQUEST")

    def _put_state_machine(self, name: str, definition: dict[str, Any]) -> str:
        sfn = self._client("stepfunctions")
        text = json.dumps(definition)
        existing = {m["name"]: m["stateMachineArn"] for page in
                    sfn.get_paginator("list_state_machines").paginate() for m in page["stateMachines"]}
        if name in existing:
            self._call(f"update the state machine {name}", sfn.update_state_machine,
                       stateMachineArn=existing[name], definition=text, roleArn=self.options.role_arn)
            return str(existing[name])
        done = self._call(f"create the state machine {name}", sfn.create_state_machine,
                          name=name, definition=text, roleArn=self.options.role_arn,
                          tags=[{"key": "lamina:flow", "value": name}])
        return str(done["stateMachineArn"])

    def _put_rules(self, plan: DeploymentPlan, stack: Any, machine_arn: str) -> None:
        events = self._client("events")
        region_account = machine_arn.split(":stateMachine:")[0]
        upstream = {f: f"{region_account}:stateMachine:{self.machine_name(f, stack)}"
                    for f in plan.flow.triggers.on_finish}
        wanted = rules.rules(plan, self.machine_name(plan.flow.name, stack), upstream)
        if wanted and not self.options.events_role_arn:
            raise LaminaError(
                f"flow '{plan.flow.name}' has a schedule or triggers, but the stack's "
                "step-functions orchestrator has no events_role_arn for EventBridge to start "
                "executions with",
                hint='set events_role_arn = "arn:aws:iam::ACCOUNT:role/NAME" (a role EventBridge '
                "may assume, allowed states:StartExecution)",
            )
        present = set(self._call("list the EventBridge rules of the state machine",
                                 events.list_rule_names_by_target,
                                 TargetArn=machine_arn)["RuleNames"])
        for rule in wanted:
            target = {"Id": "state-machine", "Arn": machine_arn,
                      "RoleArn": self.options.events_role_arn, **rule["target"]}
            request = {k: v for k, v in rule.items() if k != "target"}
            self._call(f"put the EventBridge rule {rule['Name']}", events.put_rule, **request)
            self._call(f"target the EventBridge rule {rule['Name']}", events.put_targets,
                       Rule=rule["Name"], Targets=[target])
            present.discard(rule["Name"])
        for stale in sorted(present):  # a trigger the flow no longer has
            self._call(f"remove the targets of {stale}", events.remove_targets, Rule=stale,
                       Ids=["state-machine"])
            self._call(f"delete the EventBridge rule {stale}", events.delete_rule, Name=stale)

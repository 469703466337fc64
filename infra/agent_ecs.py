"""Build infra/agent-ecs.json: the agent as an ECS service, its task role holding the API stack's
agent policy of its pool (AgentPolicy for the default pool, AgentPolicyHome for `home`...: that
pool's queue, nothing else).

    python -m infra.agent_ecs > infra/agent-ecs.json          (a test checks the file is current)

Launch type, the one choice that matters:
- EC2: the agent builds images, so it needs a Docker Engine: the task mounts the container
  instance's /var/run/docker.sock (bridge network). Use it for the docker, heroku-container and
  aws-ecs targets that build.
- FARGATE: no Docker socket exists there, so it serves only the remote targets that need no
  local engine (shell against remote hosts, ansible, heroku build, aws-ecs with prebuilt images).
ECS stops a task with SIGTERM, then SIGKILL after `stopTimeout` (at most 120 s on Fargate; on EC2
the agent's ECS_CONTAINER_STOP_TIMEOUT can allow more): the agent finishes or hands back its job.
"""
from __future__ import annotations

import json
import sys

STOP_TIMEOUT = 120


def _if_fargate(yes, no):
    return {"Fn::If": ["IsFargate", yes, no]}


def build() -> dict:
    no_value = {"Ref": "AWS::NoValue"}
    environment = [{"Name": "TAHOBUDDY_API_URL", "Value": {"Ref": "ApiUrl"}},
                   {"Name": "TAHOBUDDY_POOL", "Value": {"Ref": "Pool"}},
                   {"Name": "TAHOBUDDY_PREFIX", "Value": {"Ref": "Prefix"}},
                   {"Name": "TAHOBUDDY_TARGETS", "Value": {"Ref": "Targets"}},
                   {"Name": "AWS_REGION", "Value": {"Ref": "AWS::Region"}}]
    container = {
        "Name": "agent", "Image": {"Ref": "Image"}, "Essential": True, "Command": [],
        "Environment": environment,
        "Secrets": [{"Name": "TAHOBUDDY_AGENT_TOKEN", "ValueFrom": {"Ref": "AgentTokenSecretArn"}}],
        "StopTimeout": STOP_TIMEOUT,
        "MountPoints": _if_fargate(no_value, [{"SourceVolume": "docker-socket",
                                               "ContainerPath": "/var/run/docker.sock"}]),
        "LogConfiguration": {"LogDriver": "awslogs", "Options": {
            "awslogs-group": {"Ref": "AgentLogGroup"}, "awslogs-region": {"Ref": "AWS::Region"},
            "awslogs-stream-prefix": "agent"}},
    }
    assume = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                      "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]}
    param = lambda description, **kw: {"Type": "String", "Description": description, **kw}  # noqa: E731
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Tahobuddy agent as an ECS service (EC2 for docker builds, FARGATE for remote targets)",
        "Parameters": {
            "Image": param("the agent image (infra/agent.Dockerfile) in a registry ECS can pull from"),
            "ApiUrl": param("the API stack's ApiUrl output (tahobuddy infra deploy prints it)"),
            "AgentPolicyArn": param("the API stack's agent policy of this agent's pool: its AgentPolicyArn "
                                    "output (default pool) or AgentPolicy<Pool>Arn"),
            "AgentTokenSecretArn": param("Secrets Manager secret holding an agent token (tahobuddy token --role agent)"),
            "Cluster": param("the ECS cluster to run in"),
            "Pool": param("the pool whose queue this agent polls", Default="default"),
            "Prefix": param("the stack's resource prefix", Default="tahobuddy-prod"),
            "Targets": param("runners this agent offers", Default="docker,shell"),
            "LaunchType": param("EC2 (docker builds, mounts the host's socket) or FARGATE (remote targets only)",
                                AllowedValues=["EC2", "FARGATE"], Default="EC2"),
            "Subnets": {"Type": "CommaDelimitedList", "Default": "",
                        "Description": "FARGATE only: subnets with outbound HTTPS"},
            "SecurityGroups": {"Type": "CommaDelimitedList", "Default": "",
                               "Description": "FARGATE only: security groups (outbound HTTPS; no inbound needed)"},
        },
        "Conditions": {"IsFargate": {"Fn::Equals": [{"Ref": "LaunchType"}, "FARGATE"]}},
        "Resources": {
            "AgentLogGroup": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 30}},
            "AgentTaskRole": {"Type": "AWS::IAM::Role", "Properties": {
                "AssumeRolePolicyDocument": assume, "ManagedPolicyArns": [{"Ref": "AgentPolicyArn"}]}},
            "AgentExecutionRole": {"Type": "AWS::IAM::Role", "Properties": {
                "AssumeRolePolicyDocument": assume,
                "ManagedPolicyArns": [
                    {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"}],
                "Policies": [{"PolicyName": "ReadAgentToken", "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
                     "Resource": {"Ref": "AgentTokenSecretArn"}}]}}]}},
            "AgentTaskDefinition": {"Type": "AWS::ECS::TaskDefinition", "Properties": {
                "Family": {"Fn::Sub": "tahobuddy-agent-${Pool}"},
                "RequiresCompatibilities": [{"Ref": "LaunchType"}],
                "NetworkMode": _if_fargate("awsvpc", "bridge"),
                "Cpu": "512", "Memory": "1024",
                "TaskRoleArn": {"Fn::GetAtt": ["AgentTaskRole", "Arn"]},
                "ExecutionRoleArn": {"Fn::GetAtt": ["AgentExecutionRole", "Arn"]},
                "Volumes": _if_fargate(no_value, [{"Name": "docker-socket",
                                                   "Host": {"SourcePath": "/var/run/docker.sock"}}]),
                "ContainerDefinitions": [container]}},
            "AgentService": {"Type": "AWS::ECS::Service", "Properties": {
                "Cluster": {"Ref": "Cluster"}, "LaunchType": {"Ref": "LaunchType"},
                "TaskDefinition": {"Ref": "AgentTaskDefinition"}, "DesiredCount": 1,
                "DeploymentConfiguration": {"MinimumHealthyPercent": 0, "MaximumPercent": 200},
                "NetworkConfiguration": _if_fargate({"AwsvpcConfiguration": {
                    "Subnets": {"Ref": "Subnets"}, "SecurityGroups": {"Ref": "SecurityGroups"},
                    "AssignPublicIp": "DISABLED"}}, no_value)}},
        },
        "Outputs": {"AgentServiceName": {"Value": {"Fn::GetAtt": ["AgentService", "Name"]}},
                    "AgentTaskRoleArn": {"Value": {"Fn::GetAtt": ["AgentTaskRole", "Arn"]}}},
    }


if __name__ == "__main__":
    json.dump(build(), sys.stdout, indent=2)
    sys.stdout.write("\n")

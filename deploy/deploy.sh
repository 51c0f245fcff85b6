#!/usr/bin/env bash
# Deploy Herald to AWS: build the images (`make images`), push the ones the stack runs to ECR tagged with the git
# commit, and deploy deploy/cloudformation/herald.yaml through an S3 bucket with every parameter it needs.
# Run from anywhere as `make deploy` or `deploy/deploy.sh`. Needs bash, git, python3, docker and the aws CLI.
#
# Settings (environment variables):
#   HERALD_DEPLOY_BUCKET      required: S3 bucket the template is uploaded to. The template is larger than the
#                             51,200 bytes CloudFormation accepts inline, so it always goes through S3.
#   HERALD_DEPLOY_STACK       stack name (default: herald)
#   HERALD_DEPLOY_TAG         image tag (default: the current commit; a tree with uncommitted changes is refused,
#                             since its images would not be that commit)
#   HERALD_DEPLOY_REGISTRY    registry host (default: <account>.dkr.ecr.<region>.amazonaws.com)
#   AWS_REGION                or AWS_DEFAULT_REGION, or the aws CLI's configured region
#   HERALD_DEPLOY_<PARAMETER> one per template parameter, named by the parameter in upper snake case
#                             (VpcId -> HERALD_DEPLOY_VPC_ID). Required for every parameter without a Default;
#                             optional ones are passed only when set. The *Image parameters are always the
#                             images this script pushes (CampaignImage -> <registry>/herald-campaign:<tag>).
#   HERALD_DEPLOY_DRY_RUN=1   print the commands instead of running them (no docker, no AWS calls)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TEMPLATE="$ROOT/deploy/cloudformation/herald.yaml"
DRY_RUN="${HERALD_DEPLOY_DRY_RUN:-0}"
STACK="${HERALD_DEPLOY_STACK:-herald}"
# Docker's name for the task definitions' RuntimePlatform CpuArchitecture (X86_64).
TASK_ARCHITECTURE=amd64

die() {
  echo "deploy: $*" >&2
  exit 2
}

# Print a command, then run it unless this is a dry run.
run() {
  printf '+'
  printf ' %q' "$@"
  printf '\n'
  if [[ "$DRY_RUN" != 1 ]]; then
    "$@"
  fi
}

# VpcId -> VPC_ID, PublicSubnetIds -> PUBLIC_SUBNET_IDS
env_name() {
  echo "HERALD_DEPLOY_$(sed -E 's/([a-z0-9])([A-Z])/\1_\2/g' <<<"$1" | tr '[:lower:]' '[:upper:]')"
}

# CampaignImage -> herald-campaign
image_name() {
  echo "herald-$(tr '[:upper:]' '[:lower:]' <<<"${1%Image}")"
}

tools=(git python3)
[[ "$DRY_RUN" == 1 ]] || tools+=(docker aws make)
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || die "$tool is not installed (needed: ${tools[*]})"
done

# --- settings: everything is checked before anything is built -------------------------------------------------------
missing=()
[[ -n "${HERALD_DEPLOY_BUCKET:-}" ]] || missing+=("HERALD_DEPLOY_BUCKET (S3 bucket for the template)")

# Read first, so a template the reader cannot parse stops the deploy here (set -e).
template_parameters="$(python3 "$ROOT/deploy/cfn_parameters.py" "$TEMPLATE")"
parameters=()
images=()
while IFS=$'\t' read -r name kind; do
  if [[ "$name" == *Image ]]; then
    images+=("$name")
    continue
  fi
  var="$(env_name "$name")"
  if [[ -n "${!var:-}" ]]; then
    parameters+=("$name=${!var}")
  elif [[ "$kind" == required ]]; then
    missing+=("$var (template parameter $name)")
  fi
done <<<"$template_parameters"

REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
if [[ -z "$REGION" && "$DRY_RUN" != 1 ]]; then
  REGION="$(aws configure get region || true)"
fi
[[ -n "$REGION" ]] || missing+=("AWS_REGION (or AWS_DEFAULT_REGION, or 'aws configure set region')")

if ((${#missing[@]})); then
  printf 'deploy: missing settings:\n' >&2
  printf '  %s\n' "${missing[@]}" >&2
  exit 2
fi

if [[ -n "${HERALD_DEPLOY_TAG:-}" ]]; then
  TAG="$HERALD_DEPLOY_TAG"
else
  if [[ -n "$(git -C "$ROOT" status --porcelain)" && "$DRY_RUN" != 1 ]]; then
    die "the working tree has uncommitted changes: commit them, or name the images with HERALD_DEPLOY_TAG"
  fi
  TAG="$(git -C "$ROOT" rev-parse --short=12 HEAD)"
fi

if [[ -n "${HERALD_DEPLOY_REGISTRY:-}" ]]; then
  REGISTRY="$HERALD_DEPLOY_REGISTRY"
elif [[ "$DRY_RUN" == 1 ]]; then
  REGISTRY="ACCOUNT.dkr.ecr.$REGION.amazonaws.com" # a dry run makes no AWS call to learn the account
else
  REGISTRY="$(aws sts get-caller-identity --query Account --output text).dkr.ecr.$REGION.amazonaws.com"
fi

# --- images --------------------------------------------------------------------------------------------------------
run make -C "$ROOT" images

login=(aws ecr get-login-password --region "$REGION")
printf '+ %s | docker login --username AWS --password-stdin %q\n' "${login[*]}" "$REGISTRY"
if [[ "$DRY_RUN" != 1 ]]; then
  "${login[@]}" | docker login --username AWS --password-stdin "$REGISTRY"
fi

for parameter in "${images[@]}"; do
  repository="$(image_name "$parameter")"
  if [[ "$DRY_RUN" != 1 ]]; then
    # An image built on an arm64 machine would push fine and then fail every task with "exec format error".
    arch="$(docker image inspect --format '{{.Architecture}}' "$repository:dev")"
    [[ "$arch" == "$TASK_ARCHITECTURE" ]] ||
      die "$repository:dev is built for $arch; the tasks run $TASK_ARCHITECTURE (DOCKER_DEFAULT_PLATFORM=linux/$TASK_ARCHITECTURE)"
  fi
  # A dry run cannot ask ECR whether the repository exists, so it shows the creation.
  if [[ "$DRY_RUN" == 1 ]] || ! aws ecr describe-repositories --region "$REGION" \
    --repository-names "$repository" >/dev/null 2>&1; then
    run aws ecr create-repository --region "$REGION" --repository-name "$repository" \
      --image-scanning-configuration scanOnPush=true
  fi
  run docker tag "$repository:dev" "$REGISTRY/$repository:$TAG"
  run docker push "$REGISTRY/$repository:$TAG"
  parameters+=("$parameter=$REGISTRY/$repository:$TAG")
done

# --- the stack: always uploaded to S3 (herald.yaml is over CloudFormation's 51,200-byte inline limit) -----------------
run aws cloudformation deploy --region "$REGION" --stack-name "$STACK" \
  --template-file "$TEMPLATE" --s3-bucket "$HERALD_DEPLOY_BUCKET" --s3-prefix "$STACK" \
  --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset \
  --parameter-overrides "${parameters[@]}"

run aws cloudformation describe-stacks --region "$REGION" --stack-name "$STACK" \
  --query "Stacks[0].Outputs[?OutputKey=='ApiUrl' || OutputKey=='DashboardUrl'].[OutputKey,OutputValue]" --output text

#!/usr/bin/env bash
# Create the Google Cloud resources to train Puertocho on an NVIDIA T4:
# the GPU instance, the GCS bucket for the DVC remote and the firewall rules
# for TensorBoard (6006) and Jupyter (8080), open only to the caller's IP.
set -euo pipefail
# shellcheck source=_common.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

usage() {
    cat <<USAGE
Usage: $SCRIPT_NAME PROJECT_ID [options]

Creates, in the Google Cloud project PROJECT_ID:
  * a T4 instance: n1-standard-4 + 1x nvidia-tesla-t4, Deep Learning VM image
    with the NVIDIA driver (install-nvidia-driver=True), maintenance policy TERMINATE;
  * a GCS bucket for the DVC remote "gcs" (gs://BUCKET/puertocho);
  * firewall rules for TensorBoard (tcp:6006) and Jupyter (tcp:8080) that admit
    only your IP address (found with "curl -s https://ifconfig.me", or --allow-ip).
Existing resources are kept (firewall rules get their source range updated).

Options:
  --zone ZONE          zone with T4 GPUs (default: us-central1-a); the bucket goes to its region
  --instance NAME      instance name (default: puertocho-t4)
  --bucket NAME        bucket name (default: PROJECT_ID-puertocho-dvc)
  --disk-size GB       boot disk size in GB (default: 200, at least 50)
  --disk-type TYPE     pd-standard (default, ~\$0.04/GB-month) or pd-balanced (~\$0.10/GB-month, faster)
  --image-family NAME  Deep Learning VM image family (default: common-cu129-ubuntu-2204-nvidia-580)
  --spot               spot VM: roughly a third of the price, may be stopped at any time
  --allow-ip CIDR      source range for the firewall rules instead of your IP/32
  --allow-anywhere     permit 0.0.0.0/0 (everybody on the Internet); refused without this flag
  --dry-run            print every command instead of running it
  -h, --help           show this help

Cost (on-demand, us-central1): T4 about \$0.35/h + n1-standard-4 about \$0.19/h
~= \$0.54/h while running. Stop it with scripts/gcloud_instance.sh stop.

Example:
  $SCRIPT_NAME my-gcp-project --zone us-central1-a --bucket my-puertocho-dvc
USAGE
}

PROJECT_ID=""
ZONE="us-central1-a"
INSTANCE="puertocho-t4"
BUCKET=""
DISK_SIZE="200"
DISK_TYPE="pd-standard"
IMAGE_FAMILY="common-cu129-ubuntu-2204-nvidia-580"
IMAGE_PROJECT="deeplearning-platform-release"
SPOT=0
ALLOW_IP=""
ALLOW_ANYWHERE=0
NETWORK_TAG="puertocho-training"

while [[ $# -gt 0 ]]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --dry-run) DRY_RUN=1; shift ;;
        --zone) need_value "$1" "$#" "${2:-}"; ZONE="$2"; shift 2 ;;
        --instance) need_value "$1" "$#" "${2:-}"; INSTANCE="$2"; shift 2 ;;
        --bucket) need_value "$1" "$#" "${2:-}"; BUCKET="$2"; shift 2 ;;
        --disk-size) need_value "$1" "$#" "${2:-}"; DISK_SIZE="$2"; shift 2 ;;
        --disk-type) need_value "$1" "$#" "${2:-}"; DISK_TYPE="$2"; shift 2 ;;
        --image-family) need_value "$1" "$#" "${2:-}"; IMAGE_FAMILY="$2"; shift 2 ;;
        --spot) SPOT=1; shift ;;
        --allow-ip) need_value "$1" "$#" "${2:-}"; ALLOW_IP="$2"; shift 2 ;;
        --allow-anywhere) ALLOW_ANYWHERE=1; shift ;;
        -*) usage_error "unknown option: $1" ;;
        *)
            [[ -z "$PROJECT_ID" ]] || usage_error "unexpected argument: $1 (PROJECT_ID is already '$PROJECT_ID')"
            PROJECT_ID="$1"; shift ;;
    esac
done

[[ -n "$PROJECT_ID" ]] || usage_error "missing PROJECT_ID (the Google Cloud project id, see 'gcloud projects list')"
[[ "$PROJECT_ID" =~ ^[a-z][-a-z0-9.:]{3,62}$ ]] || usage_error "invalid PROJECT_ID: '$PROJECT_ID'"
[[ "$ZONE" =~ ^[a-z]+-[a-z]+[0-9]+-[a-z]$ ]] || usage_error "invalid zone: '$ZONE' (e.g. us-central1-a)"
REGION="${ZONE%-*}"
[[ "$DISK_SIZE" =~ ^[0-9]+$ && "$DISK_SIZE" -ge 50 ]] || usage_error "--disk-size must be a whole number of GB, at least 50 (got '$DISK_SIZE')"
[[ "$DISK_TYPE" =~ ^pd-(standard|balanced|ssd)$ ]] || usage_error "invalid --disk-type: '$DISK_TYPE'"
[[ "$INSTANCE" =~ ^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$ ]] || usage_error "invalid instance name: '$INSTANCE'"
BUCKET="${BUCKET:-${PROJECT_ID//[.:]/-}-puertocho-dvc}"
[[ "$BUCKET" =~ ^[a-z0-9][-a-z0-9_.]{1,61}[a-z0-9]$ ]] || usage_error "invalid bucket name: '$BUCKET'"

# --- The source range for the firewall rules -------------------------------
is_anywhere() { [[ "$1" == "0.0.0.0/0" || "$1" == "::/0" || "$1" == "0.0.0.0" ]]; }

valid_cidr() {
    local cidr="$1"
    [[ "$cidr" =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}/([0-9]|[12][0-9]|3[0-2])$ ]] \
        || [[ "$cidr" =~ ^[0-9a-fA-F:]+:[0-9a-fA-F:]*/[0-9]{1,3}$ ]]
}

if [[ -n "$ALLOW_IP" ]]; then
    # A bare address means that single address.
    if [[ "$ALLOW_IP" != */* ]]; then
        if [[ "$ALLOW_IP" == *:* ]]; then ALLOW_IP="$ALLOW_IP/128"; else ALLOW_IP="$ALLOW_IP/32"; fi
    fi
    SOURCE_RANGE="$ALLOW_IP"
elif [[ "$ALLOW_ANYWHERE" == 1 ]]; then
    SOURCE_RANGE="0.0.0.0/0"
elif [[ "$DRY_RUN" == 1 ]]; then
    print_cmd curl -s --max-time 10 https://ifconfig.me
    SOURCE_RANGE="YOUR_IP/32"
else
    require_command curl "Install curl or pass --allow-ip CIDR."
    MY_IP="$(curl -s --max-time 10 https://ifconfig.me || true)"
    MY_IP="${MY_IP//[[:space:]]/}"
    if [[ "$MY_IP" =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}$ ]]; then
        SOURCE_RANGE="$MY_IP/32"
    elif [[ "$MY_IP" =~ ^[0-9a-fA-F:]+:[0-9a-fA-F:]*$ ]]; then
        SOURCE_RANGE="$MY_IP/128"
    else
        die "could not find your public IP with 'curl -s https://ifconfig.me' (got '${MY_IP}'). Pass it with --allow-ip A.B.C.D/32."
    fi
fi

if is_anywhere "$SOURCE_RANGE"; then
    if [[ "$ALLOW_ANYWHERE" != 1 ]]; then
        usage_error "refusing source range $SOURCE_RANGE: it opens TensorBoard and Jupyter to the whole Internet. Use your IP (default) or add --allow-anywhere if you really mean it."
    fi
    warn "TensorBoard (6006) and Jupyter (8080) will be reachable from ANY address (--allow-anywhere)."
elif [[ "$SOURCE_RANGE" != "YOUR_IP/32" ]] && ! valid_cidr "$SOURCE_RANGE"; then
    usage_error "invalid --allow-ip: '$SOURCE_RANGE' (expected e.g. 203.0.113.7/32)"
fi

if [[ "$DRY_RUN" != 1 ]]; then
    require_command gcloud "Install the Google Cloud CLI: https://cloud.google.com/sdk/docs/install"
    require_command gsutil "It comes with the Google Cloud CLI: https://cloud.google.com/sdk/docs/install"
fi

# exists CMD...: true when the describe/ls command succeeds (always false in dry-run,
# so that dry-run prints the create commands).
exists() {
    [[ "$DRY_RUN" != 1 ]] && "$@" >/dev/null 2>&1
}

log "Project $PROJECT_ID, zone $ZONE (region $REGION), instance $INSTANCE, bucket gs://$BUCKET"
log "Firewall source range: $SOURCE_RANGE"

log "Enabling the Compute Engine and Cloud Storage APIs"
run gcloud services enable compute.googleapis.com storage.googleapis.com --project="$PROJECT_ID"

# --- 1. The T4 instance ----------------------------------------------------
if exists gcloud compute instances describe "$INSTANCE" --project="$PROJECT_ID" --zone="$ZONE"; then
    log "Instance $INSTANCE already exists in $ZONE: kept"
else
    log "Creating instance $INSTANCE (n1-standard-4 + NVIDIA T4)"
    # shellcheck disable=SC2054  # the commas belong to the gcloud flag values
    create=(gcloud compute instances create "$INSTANCE"
        --project="$PROJECT_ID"
        --zone="$ZONE"
        --machine-type=n1-standard-4
        --accelerator=type=nvidia-tesla-t4,count=1
        --maintenance-policy=TERMINATE
        --image-family="$IMAGE_FAMILY"
        --image-project="$IMAGE_PROJECT"
        --boot-disk-size="${DISK_SIZE}GB"
        --boot-disk-type="$DISK_TYPE"
        --metadata=install-nvidia-driver=True
        --scopes=default,storage-rw
        --tags="$NETWORK_TAG")
    if [[ "$SPOT" == 1 ]]; then
        create+=(--provisioning-model=SPOT --instance-termination-action=STOP)
    fi
    run "${create[@]}"
fi

# --- 2. The bucket for the DVC remote --------------------------------------
if exists gsutil ls -b -p "$PROJECT_ID" "gs://$BUCKET"; then
    log "Bucket gs://$BUCKET already exists: kept"
else
    log "Creating bucket gs://$BUCKET in $REGION"
    run gsutil mb -p "$PROJECT_ID" -l "$REGION" -b on "gs://$BUCKET"
fi

# --- 3. Firewall rules, only for the caller --------------------------------
firewall_rule() {
    local name="$1" port="$2" what="$3"
    if exists gcloud compute firewall-rules describe "$name" --project="$PROJECT_ID"; then
        log "Firewall rule $name exists: source range set to $SOURCE_RANGE"
        run gcloud compute firewall-rules update "$name" --project="$PROJECT_ID" \
            --source-ranges="$SOURCE_RANGE"
    else
        log "Creating firewall rule $name ($what, tcp:$port) from $SOURCE_RANGE"
        run gcloud compute firewall-rules create "$name" --project="$PROJECT_ID" \
            --network=default --direction=INGRESS --action=ALLOW \
            --rules="tcp:$port" --source-ranges="$SOURCE_RANGE" \
            --target-tags="$NETWORK_TAG" --description="Puertocho $what"
    fi
}
firewall_rule puertocho-allow-tensorboard 6006 TensorBoard
firewall_rule puertocho-allow-jupyter 8080 Jupyter

cat <<NEXT

Done. Next steps:
  gcloud compute ssh $INSTANCE --project=$PROJECT_ID --zone=$ZONE
  # on the instance:
  git clone <repository URL> puertocho && cd puertocho
  bash scripts/setup_training_env.sh --bucket $BUCKET
  bash scripts/run_full_training_pipeline.sh
Remember: the instance costs about \$0.54/h while running;
stop it with: bash scripts/gcloud_instance.sh stop --project $PROJECT_ID --zone $ZONE --instance $INSTANCE
NEXT

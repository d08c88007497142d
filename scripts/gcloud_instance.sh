#!/usr/bin/env bash
# Cost control for the training instance: start, stop, delete, status.
set -euo pipefail
# shellcheck source=_common.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

usage() {
    cat <<USAGE
Usage: $SCRIPT_NAME {start|stop|delete|status} [options]

  start    start the stopped instance (the GPU is billed again)
  stop     stop it: no more CPU/GPU charges, the disk is still billed
  delete   delete it and its boot disk (asks for confirmation unless --yes);
           the GCS bucket with the DVC data is kept
  status   show its state

Options:
  --project ID     Google Cloud project (default: gcloud's configured project)
  --zone ZONE      zone (default: us-central1-a)
  --instance NAME  instance name (default: puertocho-t4)
  --yes            delete without asking
  --dry-run        print the commands instead of running them
  -h, --help       show this help

Estimated cost (on-demand, us-central1; check https://cloud.google.com/compute/gpus-pricing):
  NVIDIA T4 about \$0.35/h + n1-standard-4 about \$0.19/h ~= \$0.54/h while RUNNING
  (a spot/preemptible instance costs roughly a third of that).
  Disk: pd-standard ~\$0.04/GB-month (200 GB ~= \$8/month), pd-balanced ~\$0.10/GB-month.
  A stopped instance still pays for its disk; only "delete" stops all charges
  (plus the bucket: "gsutil rm -r gs://BUCKET" when you no longer need the data).
USAGE
}

ACTION=""
PROJECT=""
ZONE="us-central1-a"
INSTANCE="puertocho-t4"
YES=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --dry-run) DRY_RUN=1; shift ;;
        --project) need_value "$1" "$#" "${2:-}"; PROJECT="$2"; shift 2 ;;
        --zone) need_value "$1" "$#" "${2:-}"; ZONE="$2"; shift 2 ;;
        --instance) need_value "$1" "$#" "${2:-}"; INSTANCE="$2"; shift 2 ;;
        -y | --yes) YES=1; shift ;;
        start | stop | delete | status)
            [[ -z "$ACTION" ]] || usage_error "only one action at a time (got '$ACTION' and '$1')"
            ACTION="$1"; shift ;;
        *) usage_error "unexpected argument: $1" ;;
    esac
done
[[ -n "$ACTION" ]] || usage_error "missing action: start, stop, delete or status"

if [[ "$DRY_RUN" != 1 ]]; then
    require_command gcloud "Install the Google Cloud CLI: https://cloud.google.com/sdk/docs/install"
fi

common=(--zone="$ZONE")
if [[ -n "$PROJECT" ]]; then
    common+=(--project="$PROJECT")
fi

case "$ACTION" in
    start)
        run gcloud compute instances start "$INSTANCE" "${common[@]}"
        done_msg "Instance $INSTANCE is running: about \$0.54/h until you stop it."
        echo "Connect: gcloud compute ssh $INSTANCE ${common[*]}"
        ;;
    stop)
        run gcloud compute instances stop "$INSTANCE" "${common[@]}"
        done_msg "Instance $INSTANCE stopped: no CPU/GPU charges, but a stopped instance still pays for its disk (~\$0.04/GB-month)."
        ;;
    status)
        run gcloud compute instances describe "$INSTANCE" "${common[@]}" \
            --format="table(name,status,machineType.basename(),guestAccelerators[0].acceleratorType.basename(),scheduling.provisioningModel,lastStartTimestamp)" \
            || die "cannot describe instance $INSTANCE in zone $ZONE (wrong --zone/--project, or already deleted?)"
        echo "RUNNING costs about \$0.54/h; TERMINATED (stopped) still pays for the disk."
        ;;
    delete)
        if [[ "$YES" != 1 && "$DRY_RUN" != 1 ]]; then
            echo "This deletes instance $INSTANCE (zone $ZONE) and its boot disk: everything on it that is not pushed (git, dvc push) is lost."
            answer=""
            read -r -p "Type the instance name to confirm: " answer || true
            if [[ "$answer" != "$INSTANCE" ]]; then
                echo "Not confirmed; nothing deleted." >&2
                exit 1
            fi
        fi
        # Our own confirmation replaces gcloud's prompt (--quiet).
        run gcloud compute instances delete "$INSTANCE" "${common[@]}" --delete-disks=all --quiet
        done_msg "Instance deleted. The DVC bucket and the firewall rules are kept (firewall rules cost nothing)."
        ;;
esac

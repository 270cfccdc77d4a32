#!/usr/bin/env bash
# The main job end to end on the embedded defaults: a synthetic Thema-dreven renovation through
# every connector onto the local broker, the stream worker delivering to the partners (their own
# Kafka topics and signed webhooks), a withdrawal with its retraction, and what each partner got;
# then the scheduled side with `airflow dags test` on an embedded SQLite metadata DB: the nightly
# partner sync (Parquet drops, validation with a few planted faults, Data Docs) and the monitoring
# aggregates (dashboard). Run by `make demo`, which installs the project and starts the broker
# first. A second run publishes and delivers nothing new and rewrites the same nightly files.
set -euo pipefail
cd "$(dirname "$0")/.."
export WIJKBRUG_KAFKA_BOOTSTRAP="${WIJKBRUG_KAFKA_BOOTSTRAP:-127.0.0.1:${WIJKBRUG_KAFKA_PORT:-9092}}"
# Keys and the SQLite ledger live outside the repository (development keys are made on first use).
export WIJKBRUG_STATE_DIR="${WIJKBRUG_STATE_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/wijkbrug-demo}"
wijkbrug=.venv/bin/wijkbrug
python=.venv/bin/python
# The synthetic exports and the webhook deliveries (tests point it at a folder of their own).
demo="${WIJKBRUG_DEMO_DIR:-.cache/demo}"
out="$demo/exports"
today="$(date +%F)"
port="${WIJKBRUG_DEMO_WEBHOOK_PORT:-8787}"

echo "== Topics op ${WIJKBRUG_KAFKA_BOOTSTRAP}; sleutels en grootboek in ${WIJKBRUG_STATE_DIR}"
"$wijkbrug" topics ensure

echo
echo "== Synthetische renovatie Thema-dreven tot vandaag (${today}; seed 7, 3 foute records per bestand)"
"$wijkbrug" synth --seed 7 --faults 3 --as-of "$today" --out "$out"

# Planning first: it is the unit register the home-visit connector reads the complex from.
for step in "planning planning.csv" "home-visits home_visits.jsonl" "consents consents.csv" \
            "feedback feedback.jsonl"; do
  set -- $step
  echo
  echo "== wijkbrug connect $1 $out/$2"
  "$wijkbrug" connect "$1" "$out/$2" --no-progress
done

# The partners' webhooks: wijkbrug's reference receiver, checking every signature.
"$wijkbrug" webhook-receiver --port "$port" --out "$demo/webhooks" > /dev/null &
receiver=$!
trap 'kill "$receiver" 2>/dev/null || true' EXIT
urls=""
for partner in buurtteam-overvecht gemeente-werk-inkomen dock bewonersverbinders; do
  urls="${urls:+$urls,}\"$partner\":\"http://127.0.0.1:${port}/${partner}\""
done
export WIJKBRUG_WEBHOOK_URLS="{${urls}}"

echo
echo "== wijkbrug stream: toestemming controleren, contract toepassen, leveren (tot alles weg is)"
metrics_port="${WIJKBRUG_DEMO_METRICS_PORT:-9400}"
"$wijkbrug" stream --until-idle 5 --metrics-port "$metrics_port" > "$demo/stream.out" &
stream=$!
"$python" scripts/demo_show.py metrics "http://127.0.0.1:${metrics_port}/metrics"
wait "$stream"
cat "$demo/stream.out"

resident="$("$python" scripts/demo_show.py resident "$out")"
echo
echo "== Een latere export van het toestemmingenregister: huurder ${resident} trekt de toestemming voor het buurtteam in"
"$python" scripts/demo_show.py withdraw "$out" "$resident" "$demo/intrekking.csv" > /dev/null
"$wijkbrug" connect consents "$demo/intrekking.csv" --no-progress
"$wijkbrug" stream --until-idle 3

echo
echo "== Wat elke partner kreeg (grootboek)"
"$wijkbrug" deliveries

echo
echo "== Een melding aan het buurtteam, zoals die binnenkomt"
"$python" scripts/demo_show.py alert

echo
echo "== Inzageverzoek (AVG art. 15) voor huurder ${resident}"
"$wijkbrug" inzage --huurder "$resident"

echo
"$wijkbrug" topics report

# The scheduled side: the DAGs of dags/ run once each with `airflow dags test`, on an Airflow
# of the demo's own (SQLite metadata DB in the state dir, no examples, few worker slots).
export AIRFLOW_HOME="$WIJKBRUG_STATE_DIR/airflow"
export AIRFLOW__CORE__DAGS_FOLDER="$PWD/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$AIRFLOW_HOME/airflow.db"
export AIRFLOW__CORE__PARALLELISM=2
export AIRFLOW__APACHE_KAFKA__CALLBACK_ALLOWLIST=wijkbrug.steward_review.quarantine_payload
export WIJKBRUG_MONITORING_PERIOD=week WIJKBRUG_MONITORING_THRESHOLD=10
airflow=.venv/bin/airflow
logs="$AIRFLOW_HOME/demo-logs"
mkdir -p "$logs"
quiet() {  # quiet LOG CMD...: the command's output in LOG, shown only when it fails
  local log=$1
  shift
  "$@" > "$log" 2>&1 || { tail -n 40 "$log"; echo "mislukt, zie $log" >&2; return 1; }
}

echo
echo "== Geplante fouten voor de nachtelijke validatie (via de gewone publisher op de raw-topics)"
"$python" scripts/demo_nightly.py plant
dates="$("$python" scripts/demo_nightly.py prepare)"
read -r night week <<< "$dates"

echo
echo "== Airflow in ${AIRFLOW_HOME} (SQLite): airflow dags test, nacht tot ${night}, week tot ${week}"
quiet "$logs/db-migrate.log" "$airflow" db migrate
quiet "$logs/nightly_partner_sync.log" "$airflow" dags test nightly_partner_sync "$night"
quiet "$logs/monitoring_aggregates.log" "$airflow" dags test monitoring_aggregates "$week"
echo "  beide runs geslaagd; logboeken in ${logs}"
echo
"$python" scripts/demo_nightly.py show

echo
echo "== De werkplek voor data stewards en privacy officers (in de browser)"
users="${WIJKBRUG_STATE_DIR}/web-users.json"
passwords="${WIJKBRUG_STATE_DIR}/web-demo-wachtwoorden.txt"
if [[ ! -f "$users" ]]; then  # demo users, one per role; their passwords in a 0600 file
  (umask 077 && : > "$passwords")
  for pair in demo-steward:steward demo-lezer:viewer demo-privacy:privacy; do
    name="${pair%%:*}" role="${pair##*:}"
    password="$("$python" -c 'import secrets; print(secrets.token_urlsafe(12))')"
    printf '%s\n' "$password" | "$wijkbrug" web user "$name" --role "$role" --password-stdin >/dev/null
    printf '%s  %-8s  %s\n' "$name" "$role" "$password" >> "$passwords"
  done
fi
echo "  starten:    WIJKBRUG_STATE_DIR=${WIJKBRUG_STATE_DIR} ${wijkbrug} web"
echo "  adres:      http://127.0.0.1:${WIJKBRUG_WEB_PORT:-8080}/"
echo "  gebruikers: demo-steward, demo-lezer, demo-privacy; wachtwoorden in ${passwords}"
echo
echo "Webhookleveringen per partner: $demo/webhooks/<partner>.jsonl"
echo "Nog eens 'make demo' publiceert en levert niets nieuws en schrijft dezelfde nachtbestanden."
echo "Broker stoppen: make kafka-stop"

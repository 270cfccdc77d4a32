#!/usr/bin/env bash
# The main job end to end on the embedded defaults: a synthetic Thema-dreven renovation through
# every connector onto the local broker, then what is on each topic. Run by `make demo`, which
# installs the project and starts the broker first. A second run publishes nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."
export WIJKBRUG_KAFKA_BOOTSTRAP="${WIJKBRUG_KAFKA_BOOTSTRAP:-127.0.0.1:${WIJKBRUG_KAFKA_PORT:-9092}}"
wijkbrug=.venv/bin/wijkbrug
out=.cache/demo/exports

echo "== Topics op ${WIJKBRUG_KAFKA_BOOTSTRAP}"
"$wijkbrug" topics ensure

echo
echo "== Synthetische renovatie Thema-dreven (seed 7, met 3 foute records per bestand)"
"$wijkbrug" synth --seed 7 --faults 3 --out "$out"

# Planning first: it is the unit register the home-visit connector reads the complex from.
for step in "planning planning.csv" "home-visits home_visits.jsonl" "consents consents.csv" \
            "feedback feedback.jsonl"; do
  set -- $step
  echo
  echo "== wijkbrug connect $1 $out/$2"
  "$wijkbrug" connect "$1" "$out/$2" --no-progress
done

echo
"$wijkbrug" topics report
echo
echo "Nog eens 'make demo' publiceert niets nieuws (alles 'al eerder gepubliceerd')."
echo "Broker stoppen: make kafka-stop"

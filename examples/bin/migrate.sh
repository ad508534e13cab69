#!/bin/sh
# One-shot: brings the example's data directory to the current schema.
set -e
mkdir -p data
echo "migrating data/ to schema 3"
echo 3 > data/schema
echo "ok" > www/status.txt
echo "migration done"

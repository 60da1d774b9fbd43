"""`make up`: start the whole platform on embedded defaults and print every address.

Data (Temporal SQLite file, MinIO objects, service databases, generated secrets) lives in
$DP_DATA_DIR (default ./data), so a restart keeps everything. Ctrl-C stops it all in order.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from deploy.stack import Stack
from platform_common import config


def main() -> None:
    data_dir = config.data_dir()
    day = os.environ.get("DP_DAY_SECONDS")
    # A local platform is for development: webhook receivers on this machine (plain http,
    # 127.0.0.1) are allowed unless DP_WEBHOOK_ALLOW_LOCAL says otherwise.
    local = {"DP_WEBHOOK_ALLOW_LOCAL": os.environ.get("DP_WEBHOOK_ALLOW_LOCAL", "1")}
    stack = Stack(data_dir, day_seconds=float(day) if day else None, extra_env=local)
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGHUP, _stop)  # the terminal closed
    print("starting the dispute platform...", flush=True)
    try:
        stack.start()
        print("\nthe dispute platform is up:")
        for line in stack.describe():
            print(f"  {line}")
        env_file = data_dir / config.DEV_ENV_FILE
        env_file.touch(mode=0o600)
        env_file.write_text("".join(f"{k}={v}\n" for k, v in stack.app_env().items()))
        print(
            "\ncall it, e.g.:\n"
            f"  set -a; . {env_file}; set +a   # the generated secret and every address\n"
            "  TOKEN=$(.venv/bin/python -m platform_common.auth checkout service)\n"
            f'  grpcurl -plaintext -H "authorization: Bearer $TOKEN" {stack.service_address("ORDER")} list\n'
            "\nCtrl-C stops everything.",
            flush=True,
        )
        while not stopping:
            for proc in stack.apps.values():
                if not proc.alive():
                    print(
                        f"{proc.name} exited ({proc.returncode()}); last log lines:\n{proc.log_tail()}",
                        file=sys.stderr,
                    )
                    stopping = True
            time.sleep(0.5)
    finally:
        print("stopping...", flush=True)
        stack.stop()
        print("stopped; data kept in", data_dir)


if __name__ == "__main__":
    main()

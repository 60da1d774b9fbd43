"""`python -m workers [orders|disputes|refunds|all]`: one process for one domain, or all of them.

Each domain polls its own task queue (reference-app-orders-go style), so domains scale and
deploy independently; `all` runs every domain in one process for small installations. Each
domain also runs alone with `python -m <domain>.worker`.
"""

from __future__ import annotations

import argparse
import asyncio

from dispute_svc.worker import build_worker as disputes
from order_svc.worker import build_worker as orders
from platform_common.worker import WorkerFactory, serve
from refund_svc.worker import build_worker as refunds

DOMAINS: dict[str, WorkerFactory] = {"orders": orders, "disputes": disputes, "refunds": refunds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("domain", nargs="?", default="all", choices=[*DOMAINS, "all"])
    chosen = parser.parse_args().domain
    names = list(DOMAINS) if chosen == "all" else [chosen]
    asyncio.run(serve([(name, DOMAINS[name]) for name in names]))


if __name__ == "__main__":
    main()

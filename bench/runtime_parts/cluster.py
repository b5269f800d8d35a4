"""The API server the runtime bench runs on: an embedded LocalCluster in a subprocess, or a given one."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from kubernetes_asyncio import config as kube_config
from kubernetes_asyncio.client import ApiClient, Configuration

from kaito.controllers.client import KubeClient

SERVER_SCRIPT = """
import asyncio, sys
from pathlib import Path
from kaito.cli.logs import configure_logging
from kaito.localcluster.cluster import LocalCluster

async def main() -> None:
    configure_logging("warning")
    cluster = LocalCluster(Path(sys.argv[1]), persist=False, history_size=100_000)
    await cluster.start()
    print(cluster.kubeconfig_path, flush=True)
    reader = asyncio.StreamReader()
    protocol = asyncio.StreamReaderProtocol(reader)
    await asyncio.get_running_loop().connect_read_pipe(lambda: protocol, sys.stdin)
    await reader.read()
    await cluster.stop()

asyncio.run(main())
"""


@contextlib.asynccontextmanager
async def embedded_cluster(kubeconfig: Path | None) -> AsyncIterator[Path]:
    """Yield a kubeconfig: ``kubeconfig`` itself, or that of an embedded API server run in a subprocess."""
    if kubeconfig is not None:
        yield kubeconfig
        return
    with tempfile.TemporaryDirectory(prefix="kaito-bench-") as data_dir:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            SERVER_SCRIPT,
            data_dir,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        assert process.stdin is not None
        try:
            async with asyncio.timeout(60):
                line = await process.stdout.readline()
            if not line:
                raise RuntimeError("the embedded API server did not start")
            yield Path(line.decode().strip())
        finally:
            process.stdin.close()
            try:
                async with asyncio.timeout(15):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


async def kube_client(kubeconfig: Path) -> KubeClient:
    configuration = Configuration()
    await kube_config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return KubeClient(ApiClient(configuration), field_manager="kaito-bench")

"""An S3-compatible server of the tests' own: moto's server mode as a child process.

Started on a free 127.0.0.1 port, waited for until it answers, given one bucket, and stopped by
its own PID afterwards (SIGTERM, then SIGKILL if it lingers). Its log goes to a file, shown when
it fails to start.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx

from services.documents.s3 import S3Settings
from services.sandbox import free_port

ACCESS_KEY_ID = "lienthong-test"
SECRET_ACCESS_KEY = "lienthong-test-secret"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    bucket: str
    pid: int

    def store_settings(self, prefix: str = "documents/") -> S3Settings:
        """The document store's settings for this server's bucket."""
        return S3Settings(bucket=self.bucket, endpoint_url=self.endpoint_url, region=REGION,
                          access_key_id=ACCESS_KEY_ID, secret_access_key=SECRET_ACCESS_KEY, prefix=prefix)

    def client(self) -> Any:
        """A synchronous boto3 client, to look at (or tamper with) the bucket behind the store's back."""
        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=REGION,
                            aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY)


@contextlib.contextmanager
def running_s3_server(log_dir: Path, bucket: str, timeout: float = 30.0) -> Iterator[S3Server]:
    """moto's S3 server with ``bucket`` created, for the duration of the ``with`` block."""
    port = free_port()
    log_path = log_dir / f"moto-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        endpoint_url = f"http://127.0.0.1:{port}"
        _wait_until_answering(endpoint_url, process, log_path, timeout)
        server = S3Server(endpoint_url=endpoint_url, bucket=bucket, pid=process.pid)
        server.client().create_bucket(Bucket=bucket)
        yield server
    finally:
        _stop(process)


def _wait_until_answering(endpoint_url: str, process: subprocess.Popen[bytes], log_path: Path,
                          timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            httpx.get(f"{endpoint_url}/moto-api/", timeout=1.0)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"moto server not answering after {timeout}s:\n"
                                   f"{log_path.read_text()[-3000:]}") from None
            time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)

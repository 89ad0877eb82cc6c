"""The access log without query strings.

Browsers can only pass a workspace token in the URL of a WebSocket or a download link
(``?token=``), and the dashboard page is opened as ``/?token=…``, which then also stands in the
``Referer`` of the files it loads. aiohttp's default line logs the request line and the referer
whole; this one logs paths only, so tokens never reach the logs.
"""

from __future__ import annotations

import logging

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse
from yarl import URL


def without_query(url: str) -> str:
    """``url`` with its query string and fragment left out."""
    try:
        return str(URL(url).with_query(None).with_fragment(None))
    except ValueError:
        return "-"


class PathOnlyAccessLogger(AbstractAccessLogger):
    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return
        self.logger.info(
            '%s "%s %s HTTP/%d.%d" %d %d %.6f "%s" "%s"',
            request.remote or "-",
            request.method,
            request.path,
            request.version.major,
            request.version.minor,
            response.status,
            response.body_length,
            time,
            without_query(request.headers.get("Referer", "-")),
            request.headers.get("User-Agent", "-"),
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)

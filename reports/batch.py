"""Many documents as one PDF: chunks rendered in parallel worker processes, then joined.

WeasyPrint is pure Python for layout, so one process renders on one core. A group print
(R-ORD-5) is split into chunks of ``CHUNK_SIZE`` documents; each chunk is one HTML laid out in one
pass by a worker of a process pool, and the chunks' PDFs are joined in order with pdfium as they
arrive (WeasyPrint's ``Document.copy`` cannot cross processes). Workers are forked from a fork
server that has built and warmed the renderer (``reports.prefork``), never from the web server's
threads.
Contexts are plain data (``reports.data``), assembled in the caller's session beforehand, so the
workers never touch the database and scoping was applied where the data was read.

``render_in_pool`` lays out one document (a report's PDF, a background job) in one such worker,
so that a job's thread in the web process waits for it rather than holding the GIL.
"""

from __future__ import annotations

import io
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pypdfium2 as pdfium

from reports import render
from reports.documents import PrintJob

# One chunk is one layout pass: ~20 MB in a worker for 10 invoices (~40 MB for 25), while the
# fixed cost of a PDF part (its font subsets, its structure) is already spread thin.
CHUNK_SIZE = 10
# Below this many documents a pool costs more than it saves.
PARALLEL_FROM = 40


def worker_count() -> int:
    """``POSTDESK_PRINT_WORKERS``, else one per core."""
    return int(os.environ.get("POSTDESK_PRINT_WORKERS") or 0) or os.cpu_count() or 1


def _render_chunk(args: tuple[str, list[dict[str, Any]], str]) -> bytes:
    template, contexts, lang = args
    return render.render_pdf_many(template, contexts, lang)


def _chunks(items: Sequence[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def join_pdfs(parts: Iterator[bytes] | Sequence[bytes]) -> bytes:
    """PDFs joined page by page, in order."""
    joined = pdfium.PdfDocument.new()
    try:
        for part in parts:
            source = pdfium.PdfDocument(part)
            try:
                joined.import_pages(source)
            finally:
                source.close()
        buffer = io.BytesIO()
        joined.save(buffer)
        return buffer.getvalue()
    finally:
        joined.close()


def _pool(workers: int) -> ProcessPoolExecutor:
    context = multiprocessing.get_context("forkserver")
    # The fork server builds and warms the renderer once; every worker is forked from it ready
    # to go (and never from the web server's threads).
    context.set_forkserver_preload(["reports.prefork"])
    # No max_tasks_per_child: on Python 3.11 a pool that replaces its workers can hang. A
    # worker's memory is what one chunk needs plus the renderer's caches; it does not grow with
    # the number of chunks (the benchmark measures it).
    return ProcessPoolExecutor(max_workers=workers, mp_context=context)


Progress = Callable[[int], None]
"""Told the number of documents rendered so far, after each chunk is joined (in order). It may
raise to stop the work: the chunks not yet started are cancelled."""


def _counted(parts: Iterator[bytes], sizes: list[int], progress: Progress | None
             ) -> Iterator[bytes]:
    done = 0
    for part, size in zip(parts, sizes, strict=True):
        yield part
        done += size
        if progress is not None:
            progress(done)


def render_many(template: str, contexts: Sequence[dict[str, Any]], lang: str, *,
                workers: int | None = None, chunk_size: int | None = None,
                parallel_from: int = PARALLEL_FROM, progress: Progress | None = None,
                in_pool: bool = False) -> bytes:
    """Documents of one template as one PDF, rendered in chunks by parallel processes.

    ``progress`` hears the documents done after each chunk. ``in_pool`` renders in worker
    processes however few documents or workers there are: a caller on a thread of the web
    process (a background job) keeps WeasyPrint's pure-Python layout off its GIL."""
    if not contexts:
        raise ValueError("nothing to render")
    workers = workers or worker_count()
    chunks = list(_chunks(contexts, chunk_size or CHUNK_SIZE))
    sizes = [len(chunk) for chunk in chunks]
    if not in_pool and (len(contexts) < parallel_from or workers == 1):
        return join_pdfs(_counted((render.render_pdf_many(template, chunk, lang)
                                   for chunk in chunks), sizes, progress))
    pool = _pool(workers)
    try:
        parts = pool.map(_render_chunk, ((template, chunk, lang) for chunk in chunks))
        return join_pdfs(_counted(parts, sizes, progress))
    finally:
        # On an error (a progress callback that stops the job) the queued chunks are dropped
        # rather than rendered for nobody.
        pool.shutdown(wait=True, cancel_futures=True)


def render_job(job: PrintJob, progress: Progress | None = None, in_pool: bool = False) -> bytes:
    """The job's PDF: one document directly, several through the chunked renderer."""
    if len(job.contexts) == 1 and not in_pool:
        pdf = render.render_pdf(job.template, job.contexts[0], job.lang)
        if progress is not None:
            progress(1)
        return pdf
    return render_many(job.template, job.contexts, job.lang, progress=progress,
                       in_pool=in_pool)


def _render_one(args: tuple[str, dict[str, Any], str]) -> bytes:
    template, context, lang = args
    return render.render_pdf(template, context, lang)


def render_in_pool(template: str, context: dict[str, Any], lang: str) -> bytes:
    """One document as PDF, laid out in a worker process (the context must pickle)."""
    pool = _pool(1)
    try:
        return pool.submit(_render_one, (template, context, lang)).result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

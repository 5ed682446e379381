"""Progress lines: milestones always, live status only on a terminal, never interleaved."""

import io

import pytest

from signpipe.pipeline import progress_log


@pytest.fixture
def lines(request):
    out = io.StringIO()
    handler = progress_log.TerminalLines(out, tty=request.param)
    progress_log.LOGGER.addHandler(handler)
    yield handler, out
    progress_log.LOGGER.removeHandler(handler)


@pytest.mark.parametrize("lines", [False], indirect=True)
def test_a_log_gets_milestones_and_step_lines_but_no_status_updates(lines):
    handler, out = lines
    handler.line("  Trainer ...")
    progress_log.report("Trainer", "head epoch 1/5, batch 6, loss 2.100")
    progress_log.report("Trainer", "head epoch 1/5: loss 1.900, accuracy 40.0%", milestone=True)
    handler.line("  Trainer done in 12.0s")
    assert out.getvalue() == (
        "  Trainer ...\n"
        "    Trainer: head epoch 1/5: loss 1.900, accuracy 40.0%\n"
        "  Trainer done in 12.0s\n"
    )
    assert "\r" not in out.getvalue()


@pytest.mark.parametrize("lines", [True], indirect=True)
def test_a_terminal_gets_a_status_line_rewritten_in_place_and_cleared(lines):
    handler, out = lines
    progress_log.report("ImageFolderExampleGen", "100 images read")
    progress_log.report("ImageFolderExampleGen", "200 images read")
    handler.line("  ImageFolderExampleGen done in 3.0s")
    assert out.getvalue() == (
        "\r\x1b[K    ImageFolderExampleGen: 100 images read"
        "\r\x1b[K    ImageFolderExampleGen: 200 images read"
        "\r\x1b[K  ImageFolderExampleGen done in 3.0s\n"
    )


@pytest.mark.parametrize("lines", [False], indirect=True)
def test_a_long_loop_writes_done_of_total_rate_and_time_left_every_tenth_and_minute(lines):
    _, out = lines
    now = [0.0]
    progress = progress_log.Progress(
        "ImageFolderExampleGen", "files read", 1000, clock=lambda: now[0]
    )
    for _ in range(250):  # 250 files in 25 s: the 10% and 20% marks, nothing in between
        now[0] += 0.1
        progress.advance()
    assert out.getvalue().splitlines() == [
        "    ImageFolderExampleGen: 100/1,000 files read (10%), 10.0/s, 1 min 30 s left",
        "    ImageFolderExampleGen: 200/1,000 files read (20%), 10.0/s, 1 min 20 s left",
    ]
    now[0] += 100.0  # a slow stretch: a line after a minute without one, before the 30% mark
    progress.advance(prefix="slow: ")
    assert out.getvalue().splitlines()[-1] == (
        "    ImageFolderExampleGen: slow: 251/1,000 files read (25%), 2.0/s, 6 min 13 s left"
    )
    unknown = progress_log.Progress("Trainer", "batches", None, clock=lambda: now[0])
    now[0] += 61.0
    unknown.advance(32)
    assert out.getvalue().splitlines()[-1] == "    Trainer: 32 batches, 0.5/s"

#!/usr/bin/env python3
"""osd metrics and SIGHUP: nothing of osd.conf it uses changes without a
restart, so SIGHUP re-reads the file only to say so, and maps the counter
file if that failed at start.

Checked, with urllib as the HTTP client: started while state_dir/run is a
regular file (no counter file can be made) every scrape is 503; the
operator removes it and sends SIGHUP: the counters are mapped, the scrape is
200 with osd's metrics, and the log says so.  SIGHUP with a broken osd.conf
logs why and keeps serving; with metrics_listen changed it logs that this
takes a restart and keeps serving on the old address; the daemon is the same
process throughout and never crashed.
"""
import os
import signal
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import Osd, check, check_no_crash, finish, free_port, wait_for, wait_port  # noqa: E402


def scrape(port):
    """(HTTP status, body) of GET /metrics."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def hup(o, m, words):
    """SIGHUP, then wait until the log has one more line with words."""
    n = o.log("metrics").count(words)
    m.send_signal(signal.SIGHUP)
    return wait_for(lambda: o.log("metrics").count(words) > n)


def main():
    o = Osd()
    try:
        port = free_port()
        extra = "metrics_listen = 127.0.0.1:%d\n" % port
        o.write_conf("3h", extra)
        os.makedirs(o.state)
        with open(os.path.join(o.state, "run"), "w"):
            pass
        m = o.start("metrics")
        if not check(wait_port(port, m), "osd metrics listens (%s)" % o.log("metrics")[-300:]):
            return
        status, _ = scrape(port)
        check(status == 503 and "running without metrics" in o.log("metrics"),
              "state_dir/run is a file: no counters, the scrape is 503 (%d)" % status)

        os.remove(os.path.join(o.state, "run"))
        check(hup(o, m, "SIGHUP: configuration re-read"), "SIGHUP is logged")
        status, body = scrape(port)
        check(status == 200 and "osd_logins_total" in body and
              "counters mapped" in o.log("metrics"),
              "after the fix and SIGHUP the counters are mapped: 200 with osd's metrics (%d)"
              % status)

        o.write_conf("3h", extra + "no_such_key = 1\n")
        check(hup(o, m, "keeping the running configuration"),
              "SIGHUP with a broken osd.conf: the error is logged, the running one kept (%s)"
              % o.log("metrics")[-200:])
        check(scrape(port)[0] == 200, "... and the scrapes go on")

        o.write_conf("3h", "metrics_listen = 127.0.0.1:%d\n" % free_port())
        check(hup(o, m, "change only on a restart"),
              "SIGHUP with metrics_listen changed: logged as taking a restart")
        check(scrape(port)[0] == 200, "... and the old address still serves")
        check(m.poll() is None and o.log("metrics").count("ready: GET /metrics") == 1,
              "the same osd metrics process throughout (no restart, no exit)")
        check_no_crash("metrics", o.log("metrics"))
    finally:
        for p in o.procs:
            o.stop(p)
        o.cleanup()
    finish()


if __name__ == "__main__":
    main()

"""services/common/resources.py: the counts follow what the process opens and closes."""

from __future__ import annotations

import os
import threading

import gevent
import zmq

from sipsimple_services.common.resources import process_resources


def test_counts_follow_what_is_opened_and_closed() -> None:
    context = zmq.Context()
    try:
        before = process_resources(context)
        read, write = os.pipe()
        socket = context.socket(zmq.PUB)
        stop = threading.Event()
        thread = threading.Thread(target=stop.wait)
        thread.start()
        sleeper = gevent.spawn(gevent.sleep, 60)
        gevent.sleep(0)  # started, so alive
        during = process_resources(context)
        assert during["descriptors"] >= before["descriptors"] + 2  # the pipe (zmq adds its own)
        assert during["threads"] == before["threads"] + 1
        assert during["greenlets"] >= before["greenlets"] + 1
        assert during["zmq_sockets"] == before["zmq_sockets"] + 1
        assert during["rss"] > 0
        stop.set()
        thread.join()
        sleeper.kill()
        socket.close()
        os.close(read)
        os.close(write)
        after = process_resources(context)
        assert after["threads"] == before["threads"]
        assert after["zmq_sockets"] == before["zmq_sockets"]
        assert after["greenlets"] == during["greenlets"] - 1
        assert after["descriptors"] <= during["descriptors"] - 2
    finally:
        context.term()

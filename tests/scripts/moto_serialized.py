# moto_server, with requests handled one at a time (see SERIALIZED_MOTO in tests/src/localstack.rs):
# real DynamoDB applies each conditional write atomically; moto's threaded server does not, and
# the "exactly one of N concurrent writers wins" tests would pass by luck on it. So this never
# falls back to plain moto: if moto's internals have moved, it says so and exits 3.
#
# It also binds its port itself (`-p 0` picks a free one, with no window for anyone to take it
# between a probe and the bind) and then prints, on stdout, the line its callers wait for:
#   serialized moto listening on http://HOST:PORT
import os
import sys
import threading

REFUSED = 3


def refuse(why):
    print(
        "moto_serialized: cannot serialize moto's requests (" + why + "); refusing to run a "
        "threaded moto, on which the concurrent-writer tests would pass by luck. Pin or fix the "
        "moto version (tests/requirements.txt) or update tests/scripts/moto_serialized.py.",
        file=sys.stderr,
    )
    sys.exit(REFUSED)


try:
    import moto.server as _server
    from moto.moto_server import werkzeug_app as _w
    from werkzeug import serving as _serving

    _app_class = _w.DomainDispatcherApplication
    _call = _app_class.__call__
    if getattr(_server, "DomainDispatcherApplication", None) is not _app_class:
        raise LookupError("moto.server no longer serves werkzeug_app.DomainDispatcherApplication")
    if not callable(getattr(_server, "run_simple", None)) or not callable(_serving.make_server):
        raise LookupError("moto.server no longer starts werkzeug's run_simple")
except Exception as e:  # any drift in moto's internals: never run unserialized
    refuse(repr(e))

_lock = threading.Lock()


def _serialized(self, environ, start_response):
    with _lock:
        return list(_call(self, environ, start_response))


_app_class.__call__ = _serialized


def _run(host, port, app, threaded=True, use_reloader=False, ssl_context=None,
         request_handler=None, **_ignored):
    if not isinstance(app, _app_class):
        refuse("moto.server serves " + type(app).__name__ + ", not the patched application")
    srv = _serving.make_server(host, port, app, threaded=threaded,
                               request_handler=request_handler, ssl_context=ssl_context)
    # moto builds some URLs (queue URLs, presigned links) from MOTO_PORT; `-p 0` set it to 0.
    os.environ["MOTO_PORT"] = str(srv.port)
    print("serialized moto listening on http://%s:%d" % (host, srv.port), flush=True)
    srv.serve_forever()


_server.run_simple = _run
_server.main()

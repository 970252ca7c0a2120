# moto_server, with requests handled one at a time (see SERIALIZED_MOTO in tests/src/localstack.rs):
# real DynamoDB applies each conditional write atomically; moto's threaded server does not.
import sys, threading
try:
    from moto.moto_server import werkzeug_app as _w
    _lock = threading.Lock()
    _call = _w.DomainDispatcherApplication.__call__
    def _serialized(self, environ, start_response):
        with _lock:
            return list(_call(self, environ, start_response))
    _w.DomainDispatcherApplication.__call__ = _serialized
except Exception as e:
    print("testkit: moto requests are not serialized:", e, file=sys.stderr)
from moto.server import main
main()

#!/usr/bin/python3
"""check_host() by pyspf (Debian python3-spf 2.0.14 on dnspython), one question per stdin line.

Usage: pyspf-driver.py HOST PORT
In:  {"id": …, "ip": …, "sender": …, "helo": …, "domain": …} per line
Out: {"id": …, "result": "pass|fail|softfail|neutral|none|permerror|temperror"} per line,
     or {"id": …, "error": "…"} when pyspf itself raised.

Only the DNS server named on the command line is asked: dnspython's default resolver is replaced by
one built without the system configuration (no resolv.conf, no search list).
"""
import json
import sys

import dns.name
import dns.resolver
import spf


def make_resolver(host, port):
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [host]
    resolver.port = port
    resolver.search = []
    resolver.domain = dns.name.root
    resolver.use_search_by_default = False
    # Generous: the loopback server shares the machine with the other engines under test.
    resolver.timeout = 5
    resolver.lifetime = 10
    # pyspf keeps its own cache per query object; no cache here, so every evaluation asks the server.
    resolver.cache = None
    return resolver


def evaluate(question):
    # check_host(ip, domain, sender) for the MAIL FROM identity; pyspf takes the local part from the
    # sender ("postmaster" when there is none) and starts at `domain` (normally the sender's domain).
    q = spf.query(i=question['ip'], s=question['sender'], h=question['helo'], querytime=0, timeout=10)
    q.d = question['domain']
    result, _code, _explanation = q.check()
    return result


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    dns.resolver.default_resolver = make_resolver(host, port)
    for line in sys.stdin:
        if not line.strip():
            continue
        question = json.loads(line)
        try:
            answer = {'id': question['id'], 'result': evaluate(question)}
        except Exception as err:  # a crash of the oracle is reported, never taken for a result
            answer = {'id': question['id'], 'error': '%s: %s' % (type(err).__name__, err)}
        sys.stdout.write(json.dumps(answer) + '\n')
        sys.stdout.flush()


if __name__ == '__main__':
    main()

"""A DNS server for one fake zone on 127.0.0.1 (UDP, a thread), so the real dnspython adapter can be tested without
the internet: answers from the zone, NXDOMAIN for a name it lacks, an empty answer for a type it lacks."""

from __future__ import annotations

import socket
import threading
from typing import Self

import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone


class ZoneServer:
    def __init__(self, zone_text: str, origin: str) -> None:
        self.zone = dns.zone.from_text(zone_text, origin=origin, relativize=False, check_origin=False)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port: int = self._sock.getsockname()[1]
        self.questions: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(wire)
            response = dns.message.make_response(query)
            (question,) = query.question
            self.questions.append(
                f"{question.name.to_text(omit_final_dot=True)} {dns.rdatatype.to_text(question.rdtype)}"
            )
            node = self.zone.get_node(question.name)
            if node is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
            else:
                rdataset = node.get_rdataset(dns.rdataclass.IN, question.rdtype)
                if rdataset is not None:
                    response.answer.append(dns.rrset.from_rdata_list(question.name, rdataset.ttl, list(rdataset)))
            self._sock.sendto(response.to_wire(), peer)

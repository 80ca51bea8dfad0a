#!/usr/bin/env python3
"""Generate the raw SIP message fixtures under tests/data/sip/{valid,invalid}/.

Each case is written as two files:

  <name>.sip   the datagram exactly as it would arrive on the wire (CRLF line
               endings, CRLF CRLF ending the header block, then the body)
  <name>.json  a subset of the object `tandem sip parse FILE` prints; the test
               compares every key given here (objects/arrays compared exactly).
               Invalid cases give {"valid": false, "error": "..."} or, when the
               message has several defects and the reported one depends on
               check order, {"valid": false, "error_any": [...]}.

Coverage: every case catalogued by RFC 4475 (SIP torture tests, named after the
RFC's short names), the RFC 5118 IPv6 cases, ordinary call / registration
traffic, compact forms, folding, and a few boundary cases.  All messages are
written for this project (hosts under example.com/.net/.org, 192.0.2.0/24 and
2001:db8::/32); none is copied from the RFCs.

Every Content-Length is computed from the body unless a case deliberately
carries a wrong one (header text containing the marker @CL@ gets the body
length).  Regenerate with:

    python3 tests/data/sip/gen_fixtures.py          # writes the fixtures
    python3 tests/data/sip/gen_fixtures.py --check  # only self-checks
"""

import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = []  # (folder, name, bytes, expectation)


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------

def _b(x):
    return x if isinstance(x, bytes) else x.encode("utf-8")


def msg(lines, body=b"", trailer=b""):
    """Build a datagram.

    lines   -- list of physical header lines (bytes or str; str is UTF-8
               encoded), the start line first.  A line starting with SP/HT is
               a folded continuation.  "@CL@" is replaced by len(body).
    body    -- the message body, bytes, used verbatim.
    trailer -- extra octets after the body that Content-Length does not count.
    """
    cl = str(len(body)).encode()
    head = b"\r\n".join(_b(l).replace(b"@CL@", cl) for l in lines)
    return head + b"\r\n\r\n" + body + trailer


def crlf(text):
    """Body text written with \\n line ends -> bytes with CRLF line ends."""
    data = _b(text)
    if data.startswith(b"\n"):
        data = data[1:]
    return data.replace(b"\n", b"\r\n")


def sdp(user, ip, port, sid="2890844526", ipver="IP4", extra=""):
    return crlf(
        "v=0\n"
        f"o={user} {sid} {sid} IN {ipver} {ip}\n"
        "s=-\n"
        f"c=IN {ipver} {ip}\n"
        "t=0 0\n"
        f"m=audio {port} RTP/AVP 0 8 101\n"
        "a=rtpmap:0 PCMU/8000\n"
        "a=rtpmap:8 PCMA/8000\n"
        "a=rtpmap:101 telephone-event/8000\n"
        f"{extra}"
    )


def V(transport, host, port=None, branch=None):
    return {"transport": transport, "host": host, "port": port, "branch": branch}


def A(uri, tag=None):
    return {"uri": uri, "tag": tag}


def C(uri, expires=None):
    return {"uri": uri, "expires": expires}


def CS(seq, method):
    return {"seq": seq, "method": method}


def request(method, ruri, call_id, cseq, frm, to, via, contact=None, cl=None):
    e = {"valid": True, "kind": "request", "method": method, "status": None,
         "request_uri": ruri, "call_id": call_id, "cseq": cseq,
         "from": frm, "to": to, "via": via}
    e["contact"] = [] if contact is None else contact
    if cl is not None:
        e["content_length"] = cl
    e["error"] = None
    return e


def response(status, call_id, cseq, frm, to, via, contact=None, cl=None):
    e = {"valid": True, "kind": "response", "method": None, "status": status,
         "request_uri": None, "call_id": call_id, "cseq": cseq,
         "from": frm, "to": to, "via": via}
    e["contact"] = [] if contact is None else contact
    if cl is not None:
        e["content_length"] = cl
    e["error"] = None
    return e


def bad(error):
    return {"valid": False, "error": error}


def bad_any(*errors):
    return {"valid": False, "error_any": list(errors)}


def valid(name, data, expect):
    CASES.append(("valid", name, data, expect))


def invalid(name, data, expect):
    CASES.append(("invalid", name, data, expect))


# A few SDP bodies reused below.
SDP_A = sdp("alice", "192.0.2.10", 49170)
SDP_B = sdp("bob", "192.0.2.20", 3456, sid="1198324412")
SDP_T = crlf("""
v=0
o=torture 51772 7364205 IN IP4 192.0.2.4
s=-
c=IN IP4 192.0.2.4
t=0 0
m=audio 40376 RTP/AVP 0 18
m=video 52110 RTP/AVP 34
a=rtpmap:34 H263/90000
""")


# ============================================================================
# RFC 4475 section 3.1.1 -- valid messages
# ============================================================================

# 3.1.1.1 wsinv: a short tortuous INVITE (LWS, folding, odd case, compact
# forms, escaped quotes in display names, leading zeros, empty Subject).
valid("wsinv", msg([
    "INVITE sip:alice@lab.example.com;weirdparam SIP/2.0",
    "TO :",
    " sip:alice@lab.example.com ;   tag    = 7283761101q",
    rb'from   : "B. Traveller \\\"" <sip:bob@example.net>',
    "  ;",
    "  tag = 74hsmt1",
    "MaX-fOrWaRdS: 0068",
    "Call-ID: wsinv.lkjhq8237@192.0.2.4",
    "Content-Length   : @CL@",
    "cseq: 0009",
    " INVITE",
    "Via  : SIP  /   2.0",
    " /UDP",
    "    192.0.2.4;branch=z9hG4bKw1sinv22",
    "s :",
    "NewFangledHeader:   newfangled value",
    " continued newfangled value",
    "UnknownHeaderWithUnusualValue: ;;,,;;,;",
    "Content-Type: application/sdp",
    "Route:",
    " <sip:svc.example.com;lr;unknownwith=value;unknown-no-value>",
    "v:  SIP  / 2.0  / TCP spindle.example.org ;",
    "  branch  =   z9hG4bKq2jd8 ,",
    " SIP  /    2.0   / UDP  192.0.2.111   ; branch=",
    " z9hG4bK8d3zz",
    rb'm:"Quoted string \"\"" <sip:bob@example.net> ; newparam =',
    "      newvalue ;",
    "  secondparam ; q = 0.33",
], SDP_T), request(
    "INVITE", "sip:alice@lab.example.com;weirdparam",
    "wsinv.lkjhq8237@192.0.2.4", CS(9, "INVITE"),
    A("sip:bob@example.net", "74hsmt1"),
    A("sip:alice@lab.example.com", "7283761101q"),
    [V("UDP", "192.0.2.4", None, "z9hG4bKw1sinv22"),
     V("TCP", "spindle.example.org", None, "z9hG4bKq2jd8"),
     V("UDP", "192.0.2.111", None, "z9hG4bK8d3zz")],
    [C("sip:bob@example.net")], len(SDP_T)))

# 3.1.1.2 intmeth: the widest range of legal characters -- a method name made
# of every token character, user/password characters in the R-URI (including
# '?', '/', ';' and ':' before the '@'), quoted-pairs escaping BEL, NUL and
# DEL, odd token display names, word-characters in Call-ID, UTF-8 values.
IM_METHOD = "!odd-Method9876543210_*+`.%truly'~"
IM_RURI = ("sip:2_strange.User~(for-real!)&isn't+this$/odd?,/;;*"
           ":&pw+has=2,odd!*pa$$wo~rd_too.(isn't-it)@example.org")
IM_CALLID = r"""intmeth.wd%ZK-!.*_+'@wd`~)(><:\/"][?}{"""
IM_BRANCH = "z9hG4bK-.!%77*_+`'~x"
IM_TAG = "_tag~9'+`*%!-."
valid("intmeth", msg([
    f"{IM_METHOD} {IM_RURI} SIP/2.0",
    f"Via: SIP/2.0/TCP host7.example.net;branch={IM_BRANCH}",
    b'To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <' + IM_RURI.encode() + b">",
    "From: tok1~` tok2'+_ tok3*%!.- <sip:ordinary@example.net>"
    ";frParam''~+*_!.-%=\"работающий\";tag=" + IM_TAG,
    "Call-ID: " + IM_CALLID,
    f"CSeq: 139122385 {IM_METHOD}",
    "Max-Forwards: 255",
    b"extHdr-!.%*+_`'~: \xef\xbb\xbf" + "大停電が発生しました".encode(),
    "Content-Length: 0",
]), request(
    IM_METHOD, IM_RURI, IM_CALLID, CS(139122385, IM_METHOD),
    A("sip:ordinary@example.net", IM_TAG), A(IM_RURI, None),
    [V("TCP", "host7.example.net", None, IM_BRANCH)], None, 0))

# 3.1.1.3 esc01: legal %-escapes in R-URI, To, From and Contact (including
# escaped parameter names/values); compact Call-ID and Content-Type.
ESC01_RURI = "sip:sips%3Acarol%40example.org@example.net"
ESC01_CT = "sip:cal%6Cer@host5.example.com;%6C%72;n%61me=v%61lue%25%34%31"
valid("esc01", msg([
    f"INVITE {ESC01_RURI} SIP/2.0",
    f"To: {ESC01_RURI}",
    "From: <sip:I%20have%20spaces@example.com>;tag=2917",
    "Max-Forwards: 87",
    "i: esc01.70d3kx8q2@host5.example.com",
    "CSeq: 234234 INVITE",
    "Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKesc01a",
    "C: application/sdp",
    "Contact:",
    f"  <{ESC01_CT}>",
    "Content-Length: @CL@",
], SDP_T), request(
    "INVITE", ESC01_RURI, "esc01.70d3kx8q2@host5.example.com",
    CS(234234, "INVITE"),
    A("sip:I%20have%20spaces@example.com", "2917"), A(ESC01_RURI),
    [V("UDP", "host5.example.com", None, "z9hG4bKesc01a")],
    [C(ESC01_CT)], len(SDP_T)))

# 3.1.1.4 escnull: escaped NULs (%00) inside URIs must not truncate them.
valid("escnull", msg([
    "REGISTER sip:example.org SIP/2.0",
    "To: sip:null-%00-null@example.org",
    "From: sip:null-%00-null@example.org;tag=551842092",
    "Via: SIP/2.0/UDP host5.example.org;branch=z9hG4bKnul00",
    "Call-ID: escnull.49fj3k2@host5.example.org",
    "CSeq: 1 REGISTER",
    "Max-Forwards: 70",
    "Contact: <sip:%00@host5.example.org>",
    "Contact: <sip:%00%00@host5.example.org>",
    "L:0",
]), request(
    "REGISTER", "sip:example.org", "escnull.49fj3k2@host5.example.org",
    CS(1, "REGISTER"),
    A("sip:null-%00-null@example.org", "551842092"),
    A("sip:null-%00-null@example.org"),
    [V("UDP", "host5.example.org", None, "z9hG4bKnul00")],
    [C("sip:%00@host5.example.org"), C("sip:%00%00@host5.example.org")], 0))

# 3.1.1.5 esc02: '%' where it is not an escape: an unknown method
# RE%47IST%45R (NOT REGISTER), '%Z' in a quoted display name, and an unknown
# header C%6Fntact (NOT Contact, so its value is not a contact).
valid("esc02", msg([
    "RE%47IST%45R sip:registrar.example.org SIP/2.0",
    'To: "%Z%45" <sip:resource@example.org>',
    'From: "%Z%45" <sip:resource@example.org>;tag=f6a1b09',
    "Via: SIP/2.0/UDP host4.example.net;branch=z9hG4bKesc02x",
    "Call-ID: esc02.r93nv0s8djqaweoru2lk3jf9",
    "CSeq: 29344 RE%47IST%45R",
    "Max-Forwards: 70",
    "Contact: <sip:alias1@host1.example.net>",
    "C%6Fntact: <sip:alias2@host2.example.net>",
    "Contact: <sip:alias3@host3.example.net>",
    "l: 0",
]), request(
    "RE%47IST%45R", "sip:registrar.example.org",
    "esc02.r93nv0s8djqaweoru2lk3jf9", CS(29344, "RE%47IST%45R"),
    A("sip:resource@example.org", "f6a1b09"), A("sip:resource@example.org"),
    [V("UDP", "host4.example.net", None, "z9hG4bKesc02x")],
    [C("sip:alias1@host1.example.net"), C("sip:alias3@host3.example.net")], 0))

# 3.1.1.6 lwsdisp: no LWS between a token display name and '<'.
valid("lwsdisp", msg([
    "OPTIONS sip:carol@example.org SIP/2.0",
    "To: sip:carol@example.org",
    "From: dave<sip:dave@example.net>;tag=8815",
    "Max-Forwards: 70",
    "Call-ID: lwsdisp.77aa3fe1@pc9.example.net",
    "CSeq: 60 OPTIONS",
    "Via: SIP/2.0/UDP pc9.example.net;branch=z9hG4bKlwsd1",
    "l: 0",
]), request(
    "OPTIONS", "sip:carol@example.org", "lwsdisp.77aa3fe1@pc9.example.net",
    CS(60, "OPTIONS"), A("sip:dave@example.net", "8815"),
    A("sip:carol@example.org"),
    [V("UDP", "pc9.example.net", None, "z9hG4bKlwsd1")], None, 0))

# 3.1.1.7 longreq: very long display name, URI params, tags, Call-ID, header
# name and value, and a long Via chain (mixing Via and v).
LR_TO_URI = ("sip:carol@example.org:6000;unknownparam1=" + "verylong" * 12 +
             "value;" + "longparamname" * 9 + "=shortvalue;" +
             "verylongParameterNameWithNoValue" * 6)
LR_TO_TAG = "3" + "4ab9" * 30
LR_DISP = "I carry a display name of " + "extreme" * 24 + " proportion"
LR_USER = "amazinglylongcallername" * 10
LR_FROM_URI = f"sip:{LR_USER}@example.net"
LR_CALLID = "longreq." + "onereallyreallyreallylongcallid" * 10
LR_BRANCH = "z9hG4bK" + "verylonglonglongbranchvalue" * 8
lr_lines = [
    "INVITE sip:carol@example.org SIP/2.0",
    f'To: "{LR_DISP}"<{LR_TO_URI}>;tag={LR_TO_TAG}',
    f"F: {LR_FROM_URI};tag=12982424;unknownheaderparamname"
    + "x" * 60 + "=unknownheaderparamvalue" + "y" * 60
    + ";unknownValuelessparamname" + "z" * 60,
    f"Call-ID: {LR_CALLID}",
    "CSeq: 3882340 INVITE",
    "Unknown-" + "LongLong" * 20 + "-Header: " + "unknownheadervalue" * 30,
]
lr_vias = []
for n in range(33, 0, -1):
    name = "Via" if n % 2 else "v"
    lr_lines.append(f"{name}: SIP/2.0/TCP sip{n}.example.com")
    lr_vias.append(V("TCP", f"sip{n}.example.com", None, None))
lr_lines.append(f"Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;branch={LR_BRANCH}")
lr_vias.append(V("TCP", "host.example.com", None, LR_BRANCH))
LR_CONTACT = f"sip:{LR_USER}@host5.example.net"
lr_lines += [
    "Max-Forwards: 70",
    f"Contact: <{LR_CONTACT}>",
    "Content-Type: application/sdp",
    "l: @CL@",
]
valid("longreq", msg(lr_lines, SDP_T), request(
    "INVITE", "sip:carol@example.org", LR_CALLID, CS(3882340, "INVITE"),
    A(LR_FROM_URI, "12982424"), A(LR_TO_URI, LR_TO_TAG), lr_vias,
    [C(LR_CONTACT)], len(SDP_T)))

# 3.1.1.8 dblreq: a UDP datagram carrying a REGISTER (l: 0) followed by a
# second message; the octets after Content-Length are ignored.
DBL_SECOND = msg([
    "INVITE sip:erin@example.org SIP/2.0",
    "To: sip:erin@example.org",
    "From: sip:frank@example.net;tag=141334",
    "Max-Forwards: 8",
    "Call-ID: dblreq.0ha0isnda977644900765@192.0.2.33",
    "CSeq: 8 INVITE",
    "Via: SIP/2.0/UDP 192.0.2.33;branch=z9hG4bKdblreq2",
    "Content-Type: application/sdp",
    "l: @CL@",
], SDP_T)
valid("dblreq", msg([
    "REGISTER sip:example.org SIP/2.0",
    "To: sip:erin@example.org",
    "From: sip:erin@example.org;tag=8723499",
    "Max-Forwards: 70",
    "Call-ID: dblreq.0ha0isndaksdj99sdfafnl3lk233412",
    "Contact: sip:erin@host3.example.org",
    "CSeq: 8 REGISTER",
    "Via: SIP/2.0/UDP 192.0.2.33:5060;branch=z9hG4bKdblreq1",
    "l: 0",
], b"", DBL_SECOND), request(
    "REGISTER", "sip:example.org", "dblreq.0ha0isndaksdj99sdfafnl3lk233412",
    CS(8, "REGISTER"), A("sip:erin@example.org", "8723499"),
    A("sip:erin@example.org"),
    [V("UDP", "192.0.2.33", 5060, "z9hG4bKdblreq1")],
    [C("sip:erin@host3.example.org")], 0))

# 3.1.1.9 semiuri: ';' inside the user part of the Request-URI.
SEMI_RURI = "sip:grace;par=u%40example.com@example.org"
valid("semiuri", msg([
    f"OPTIONS {SEMI_RURI} SIP/2.0",
    "To: sip:g_race@example.org",
    "From: sip:hank@example.net;tag=33242",
    "Max-Forwards: 3",
    "Call-ID: semiuri.0ha0isndaksdj.u8",
    "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKsemi9",
    "Accept: application/sdp, application/pkcs7-mime,",
    "  multipart/mixed, multipart/signed,",
    "  message/sip, message/sipfrag",
    "CSeq: 8 OPTIONS",
    "l: 0",
]), request(
    "OPTIONS", SEMI_RURI, "semiuri.0ha0isndaksdj.u8", CS(8, "OPTIONS"),
    A("sip:hank@example.net", "33242"), A("sip:g_race@example.org"),
    [V("UDP", "192.0.2.1", None, "z9hG4bKsemi9")], None, 0))

# 3.1.1.10 transports: known and unknown transports in Via.
valid("transports", msg([
    "OPTIONS sip:ivy@example.com SIP/2.0",
    "To: sip:ivy@example.com",
    "From: <sip:jack@example.com>;tag=323",
    "Max-Forwards: 70",
    "Call-ID: transports.kijh4akdnaqjkwendsasfdj",
    "Accept: application/sdp",
    "CSeq: 60 OPTIONS",
    "Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKtr1",
    "Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKtr2",
    "Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bKtr3",
    "Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKtr4",
    "Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bKtr5",
    "l: 0",
]), request(
    "OPTIONS", "sip:ivy@example.com", "transports.kijh4akdnaqjkwendsasfdj",
    CS(60, "OPTIONS"), A("sip:jack@example.com", "323"),
    A("sip:ivy@example.com"),
    [V("UDP", "t1.example.com", None, "z9hG4bKtr1"),
     V("SCTP", "t2.example.com", None, "z9hG4bKtr2"),
     V("TLS", "t3.example.com", None, "z9hG4bKtr3"),
     V("UNKNOWN", "t4.example.com", None, "z9hG4bKtr4"),
     V("TCP", "t5.example.com", None, "z9hG4bKtr5")], None, 0))

# 3.1.1.11 mpart01: multipart/mixed body whose second part is raw binary
# (contains NUL, CR LF CR LF and a fake status line) -- framing is by
# Content-Length only.
MP_BLOB = (bytes((i * 37 + 11) % 256 for i in range(96)) +
           b"\r\n\r\nSIP/2.0 200 OK\r\n\x00\x00\xff\xfe" +
           bytes((i * 91 + 3) % 256 for i in range(64)))
MP_BODY = (crlf("""
--3c8f2a9e71bd04d5
Content-Type: text/plain
Content-Transfer-Encoding: binary

Meeting moved to room 4, bring the slides.
--3c8f2a9e71bd04d5
Content-Type: application/octet-stream
Content-Transfer-Encoding: binary

""") + MP_BLOB + b"\r\n--3c8f2a9e71bd04d5--\r\n")
valid("mpart01", msg([
    "MESSAGE sip:kumiko@example.org SIP/2.0",
    "Via: SIP/2.0/UDP 192.0.2.12:5070;branch=z9hG4bKmp17a",
    "Max-Forwards: 70",
    "To: <sip:kumiko@example.org>",
    'From: "Ivan Ivanov" <sip:ivan@example.net>;tag=4nw0b2',
    "Call-ID: mpart01.83jsd8820@192.0.2.12",
    "CSeq: 1 MESSAGE",
    "Contact: <sip:ivan@192.0.2.12:5070>",
    "Content-Type: multipart/mixed;boundary=3c8f2a9e71bd04d5",
    "Date: Thu, 12 Mar 2009 09:41:22 GMT",
    "Content-Length: @CL@",
], MP_BODY), request(
    "MESSAGE", "sip:kumiko@example.org", "mpart01.83jsd8820@192.0.2.12",
    CS(1, "MESSAGE"), A("sip:ivan@example.net", "4nw0b2"),
    A("sip:kumiko@example.org"),
    [V("UDP", "192.0.2.12", 5070, "z9hG4bKmp17a")],
    [C("sip:ivan@192.0.2.12:5070")], len(MP_BODY)))

# 3.1.1.12 unreason: a reason phrase full of UTF-8 and odd punctuation.
valid("unreason", msg([
    "SIP/2.0 200 Всё в порядке — 成功 ✓ = 2**3 * 5**2 (почти)",
    "Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bKunr3s;received=192.0.2.198",
    "Call-ID: unreason.9ak3j2erwedfsASdf11",
    "CSeq: 35 INVITE",
    "From: sip:judy@example.com;tag=11141343",
    "To: sip:judy@example.net;tag=2229",
    "Content-Length: @CL@",
    "Content-Type: application/sdp",
    "Contact: <sip:judy@host198.example.net>",
], SDP_T), response(
    200, "unreason.9ak3j2erwedfsASdf11", CS(35, "INVITE"),
    A("sip:judy@example.com", "11141343"), A("sip:judy@example.net", "2229"),
    [V("UDP", "192.0.2.198", None, "z9hG4bKunr3s")],
    [C("sip:judy@host198.example.net")], len(SDP_T)))

# 3.1.1.13 noreason: empty reason phrase (status code, one SP, CRLF).
valid("noreason", msg([
    "SIP/2.0 100 ",
    "Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bKnor100;received=192.0.2.105",
    "Call-ID: noreason.asndj203insdf99223ndf",
    "CSeq: 35 INVITE",
    "From: <sip:kate@example.com>;tag=39ansfi3",
    "To: <sip:kate@example.net>;tag=902jndnke3",
    "Content-Length: 0",
    "Contact: <sip:kate@host105.example.net>",
]), response(
    100, "noreason.asndj203insdf99223ndf", CS(35, "INVITE"),
    A("sip:kate@example.com", "39ansfi3"), A("sip:kate@example.net", "902jndnke3"),
    [V("UDP", "192.0.2.105", None, "z9hG4bKnor100")],
    [C("sip:kate@host105.example.net")], 0))


# ============================================================================
# RFC 4475 section 3.1.2 -- invalid messages
# ============================================================================

# 3.1.2.1 badinv01: extraneous separators -- empty Via values and empty
# Contact params.  Two defects: Via is checked before Contact.
invalid("badinv01", msg([
    "INVITE sip:kim@example.com SIP/2.0",
    "To: sip:k.im@example.com",
    "From: sip:lee@example.net;tag=134161461246",
    "Max-Forwards: 7",
    "Call-ID: badinv01.0ha0isndaksdjasdf3234nas",
    "CSeq: 8 INVITE",
    "Via: SIP/2.0/UDP 192.0.2.15;;,;,,",
    'Contact: "Lee" <sip:lee@example.org>;;;;',
    "Content-Length: @CL@",
    "Content-Type: application/sdp",
], SDP_T), bad_any("Bad Via Header", "Bad Contact Header"))

# 3.1.2.2 clerr: Content-Length larger than the body in the datagram.
invalid("clerr", msg([
    "INVITE sip:kim@example.com SIP/2.0",
    "Max-Forwards: 80",
    "To: sip:kim@example.com",
    "From: sip:lee@example.net;tag=93942939o2",
    "Contact: <sip:lee@host5.example.net>",
    "Call-ID: clerr.0ha0isndaksdjweiafasdk3",
    "CSeq: 8 INVITE",
    "Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523",
    "Content-Type: application/sdp",
    "Content-Length: 9999",
], SDP_T), bad("Content-Length Exceeds Body"))

# 3.1.2.3 ncl: negative Content-Length.
invalid("ncl", msg([
    "INVITE sip:kim@example.com SIP/2.0",
    "Max-Forwards: 254",
    "To: sip:j.user@example.com",
    "From: sip:lee@example.net;tag=32394234",
    "Call-ID: ncl.0ha0isndaksdj2193423r542w35",
    "CSeq: 0 INVITE",
    "Via: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw",
    "Contact: <sip:lee@example53.example.net>",
    "Content-Type: application/sdp",
    "Content-Length: -999",
], SDP_T), bad("Bad Content-Length Header"))

# 3.1.2.4 scalar02: overlarge scalars in a request (CSeq, Max-Forwards,
# Expires, Contact expires).
invalid("scalar02", msg([
    "REGISTER sip:example.com SIP/2.0",
    "Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKsc02a",
    "Max-Forwards: 300",
    "From: <sip:liam@example.com>;tag=932",
    "To: <sip:liam@example.com>",
    "Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32",
    "CSeq: 36893488147419103232 REGISTER",
    "Contact: <sip:liam@host129.example.com>",
    "  ;expires=280297596632815",
    "Expires: " + "1" + "0" * 48,
    "Content-Length: 0",
]), bad_any("Bad CSeq Header", "Bad Max-Forwards Header",
            "Bad Expires Header", "Bad Contact Header"))

# 3.1.2.5 scalarlg: overlarge scalars in a response.  Retry-After and the
# 4-digit Warning code are not checked by the parser; the CSeq is.
invalid("scalarlg", msg([
    "SIP/2.0 503 Service Unavailable",
    "Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKsclg1;received=192.0.2.129",
    "To: <sip:liam@example.com>",
    "From: <sip:mia@example.net>;tag=2easdjfejw",
    "CSeq: 9292394834772304023312 OPTIONS",
    "Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r",
    "Retry-After: 949302838503028349304023988",
    'Warning: 1812 overture "Work In Progress"',
    "Content-Length: 0",
]), bad("Bad CSeq Header"))

# 3.1.2.6 quotbal: unterminated quoted string in the To display name.
invalid("quotbal", msg([
    "INVITE sip:kim@example.com SIP/2.0",
    'To: "Mr. K. Im <sip:kim@example.com>',
    "From: sip:lee@example.net;tag=93334",
    "Max-Forwards: 10",
    "Call-ID: quotbal.aksdj02",
    "Contact: <sip:lee@host59.example.net>",
    "CSeq: 8 INVITE",
    "Via: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234",
    "Content-Type: application/sdp",
    "Content-Length: @CL@",
], SDP_T), bad("Bad To Header"))

# 3.1.2.7 ltgtruri: Request-URI enclosed in <>.
invalid("ltgtruri", msg([
    "INVITE <sip:kim@example.com> SIP/2.0",
    "To: sip:kim@example.com",
    "From: sip:lee@example.net;tag=39291",
    "Max-Forwards: 23",
    "Call-ID: ltgtruri.1@192.0.2.5",
    "CSeq: 1 INVITE",
    "Via: SIP/2.0/UDP 192.0.2.5;branch=z9hG4bKkdjuw",
    "Contact: <sip:lee@host5.example.net>",
    "Content-Type: application/sdp",
    "Content-Length: @CL@",
], SDP_T), bad("Malformed Request-URI"))

# 3.1.2.8 lwsruri: LWS embedded in the Request-URI.
invalid("lwsruri", msg([
    "INVITE sip:kim@example.com; lr SIP/2.0",
    "To: sip:kim@example.com;tag=3xfe-9921883-z9f",
    "From: sip:lee@example.net;tag=231413434",
    "Max-Forwards: 5",
    "Call-ID: lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423",
    "CSeq: 2130706432 INVITE",
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKkdjuw2395",
    "Contact: <sip:lee@host1.example.net>",
    "Content-Type: application/sdp",
    "Content-Length: @CL@",
], SDP_T), bad_any("Malformed Start Line", "Malformed Request-URI"))

# 3.1.2.9 lwsstart: several SPs between the Request-Line elements.
invalid("lwsstart", msg([
    "INVITE  sip:kim@example.com  SIP/2.0",
    "Max-Forwards: 8",
    "To: sip:kim@example.com",
    "From: sip:lee@example.net;tag=8814",
    "Call-ID: lwsstart.dfknq234oi243099adsdfnawe3@example.com",
    "CSeq: 1893884 INVITE",
    "Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw3923",
    "Contact: <sip:lee@host1.example.net>",
    "Content-Type: application/sdp",
    "Content-Length: @CL@",
], SDP_T), bad("Malformed Start Line"))

# 3.1.2.10 trws: SP characters after the SIP-Version.
invalid("trws", msg([
    "OPTIONS sip:remote-target@example.com SIP/2.0  ",
    "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK299342093",
    "To: <sip:remote-target@example.com>",
    "From: <sip:local-resource@example.com>;tag=329429089",
    "Call-ID: trws.oicu34958239neffasdhr2345r",
    "Accept: application/sdp",
    "CSeq: 238923 OPTIONS",
    "Max-Forwards: 70",
    "Content-Length: 0",
]), bad("Malformed Start Line"))

# 3.1.2.11 escruri: escaped headers ('?...') in a SIP Request-URI.
invalid("escruri", msg([
    "INVITE sip:kim@example.com?Route=%3Csip:example.com%3E SIP/2.0",
    "To: sip:kim@example.com",
    "From: sip:lee@example.net;tag=341518",
    "Max-Forwards: 7",
    "Contact: <sip:lee@host39923.example.net>",
    "Call-ID: escruri.23940-asdfhj-aje3br-234q098w-fawerh2q-h4n5",
    "CSeq: 149209342 INVITE",
    "Via: SIP/2.0/UDP host-of-the-hour.example.com;branch=z9hG4bKkdjuw",
    "Content-Type: application/sdp",
    "Content-Length: @CL@",
], SDP_T), bad("Malformed Request-URI"))

# 3.1.2.12 baddate: a Date with a non-GMT zone.  The parser does not parse
# Date, so at parse level this is VALID (kept under valid/).
valid("baddate", msg([
    "INVITE sip:kim@example.com SIP/2.0",
    "To: sip:kim@example.com",
    "From: sip:lee@example.net;tag=2234923",
    "Max-Forwards: 70",
    "Call-ID: baddate.239423mnsadf3j23lj42--sedfnm234",
    "CSeq: 1392934 INVITE",
    "Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKbdt1",
    "Date: Mon, 04 Jan 2010 13:30:00 EST",
    "Contact: <sip:lee@host5.example.net>",
    "Content-Type: application/sdp",
    "Content-Length: @CL@",
], SDP_T), request(
    "INVITE", "sip:kim@example.com", "baddate.239423mnsadf3j23lj42--sedfnm234",
    CS(1392934, "INVITE"), A("sip:lee@example.net", "2234923"),
    A("sip:kim@example.com"),
    [V("UDP", "host.example.com", None, "z9hG4bKbdt1")],
    [C("sip:lee@host5.example.net")], len(SDP_T)))

# 3.1.2.13 regbadct: a Contact URI with '?' headers not enclosed in <>.
invalid("regbadct", msg([
    "REGISTER sip:example.com SIP/2.0",
    "To: sip:noah@example.com",
    "From: sip:noah@example.com;tag=998332",
    "Max-Forwards: 70",
    "Call-ID: regbadct.k345asrl3fdbv@192.0.2.1",
    "CSeq: 1 REGISTER",
    "Via: SIP/2.0/UDP 192.0.2.133:5060;branch=z9hG4bKrbct1",
    "Contact: sip:noah@example.com?Route=%3Csip:sip.example.com%3E",
    "l: 0",
]), bad("Bad Contact Header"))

# 3.1.2.14 badaspec: spaces inside the <> of a name-addr (To).
invalid("badaspec", msg([
    "OPTIONS sip:t.watson@example.org SIP/2.0",
    "Via: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234",
    "Max-Forwards: 70",
    'From: "Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423',
    'To: "Watson, Thomas" < sip:t.watson@example.org >',
    "Call-ID: badaspec.sdf0234n2nds0a099u23h3hnnw009cdkne3",
    "Accept: application/sdp",
    "CSeq: 3923239 OPTIONS",
    "l: 0",
]), bad("Bad To Header"))

# 3.1.2.15 baddn: unquoted display names containing a comma (From and To).
invalid("baddn", msg([
    "OPTIONS sip:t.watson@example.org SIP/2.0",
    "Via:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKbaddn",
    "Max-Forwards:      70",
    "From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
    "To:      Watson, Thomas <sip:t.watson@example.org>",
    "Call-ID: baddn.31415@c.example.com",
    "Accept: application/sdp",
    "CSeq:    3923239 OPTIONS",
    "l: 0",
]), bad_any("Bad From Header", "Bad To Header"))

# 3.1.2.16 badvers: a well-formed but unknown protocol version.
invalid("badvers", msg([
    "OPTIONS sip:t.watson@example.org SIP/7.0",
    "Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw",
    "Max-Forwards:     70",
    "From:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe",
    "To:      T. Watson <sip:t.watson@example.org>",
    "Call-ID: badvers.31417@c.example.com",
    "CSeq:    1 OPTIONS",
    "l: 0",
]), bad("Version Not Supported"))

# 3.1.2.17 mismatch01: method in start line and CSeq differ.
invalid("mismatch01", msg([
    "OPTIONS sip:kim@example.com SIP/2.0",
    "To: sip:kim@example.com",
    "From: sip:lee@example.org;tag=34525",
    "Max-Forwards: 6",
    "Call-ID: mismatch01.dj0234sxdfl3",
    "CSeq: 8 INVITE",
    "Via: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw",
    "l: 0",
]), bad("CSeq Method Mismatch"))

# 3.1.2.18 mismatch02: unknown method, CSeq carries a different one.
invalid("mismatch02", msg([
    "NEWMETHOD sip:kim@example.com SIP/2.0",
    "To: sip:kim@example.com",
    "From: sip:lee@example.org;tag=34525",
    "Max-Forwards: 6",
    "Call-ID: mismatch02.dj0234sxdfl3",
    "CSeq: 8 INVITE",
    "Contact: <sip:lee@host.example.org>",
    "Via: SIP/2.0/UDP host.example.net;branch=z9hG4bKkdjuw",
    "Content-Type: application/sdp",
    "l: @CL@",
], SDP_T), bad("CSeq Method Mismatch"))

# 3.1.2.19 bigcode: a status code far beyond three digits.
invalid("bigcode", msg([
    "SIP/2.0 4294967302 this had better not wrap around",
    "Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe",
    "Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i",
    "CSeq: 353494 INVITE",
    "From: <sip:kim@example.com>;tag=39ansfi3",
    "To: <sip:lee@example.org>;tag=902jndnke3",
    "Content-Length: 0",
    "Contact: <sip:lee@host105.example.org>",
]), bad("Malformed Status Code"))


# ============================================================================
# RFC 4475 section 3.2 -- transaction layer
# ============================================================================

# 3.2.1 badbranch: branch is only the magic cookie.  Parses; the transaction
# layer must not treat it as an RFC 3261 branch.
valid("badbranch", msg([
    "OPTIONS sip:kim@example.com SIP/2.0",
    "To: sip:kim@example.com",
    "From: sip:lee@example.org;tag=33242",
    "Max-Forwards: 3",
    "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK",
    "Accept: application/sdp",
    "Call-ID: badbranch.sadonfo23i420jv0as0derf3j3n",
    "CSeq: 8 OPTIONS",
    "l: 0",
]), request(
    "OPTIONS", "sip:kim@example.com", "badbranch.sadonfo23i420jv0as0derf3j3n",
    CS(8, "OPTIONS"), A("sip:lee@example.org", "33242"),
    A("sip:kim@example.com"), [V("UDP", "192.0.2.1", None, "z9hG4bK")],
    None, 0))


# ============================================================================
# RFC 4475 section 3.3 -- application layer semantics
# ============================================================================

# 3.3.1 insuf: Call-ID, From and To all missing.
invalid("insuf", msg([
    "INVITE sip:kim@example.com SIP/2.0",
    "CSeq: 193942 INVITE",
    "Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf",
    "Content-Type: application/sdp",
    "l: @CL@",
], SDP_T), bad_any("Missing Call-ID Header", "Missing From Header",
                   "Missing To Header"))

# 3.3.2 unkscm: an unknown Request-URI scheme (answered 416 later).
valid("unkscm", msg([
    "OPTIONS noOneHasHeardOfThisScheme:completelyopaquestuff SIP/2.0",
    "To: noOneHasHeardOfThisScheme:completelyopaquestuff",
    "From: sip:lee@example.net;tag=384",
    "Max-Forwards: 3",
    "Call-ID: unkscm.nasdfasser0q239nwsdfasdkl34",
    "CSeq: 3923423 OPTIONS",
    "Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234",
    "Content-Length: 0",
]), request(
    "OPTIONS", "noOneHasHeardOfThisScheme:completelyopaquestuff",
    "unkscm.nasdfasser0q239nwsdfasdkl34", CS(3923423, "OPTIONS"),
    A("sip:lee@example.net", "384"),
    A("noOneHasHeardOfThisScheme:completelyopaquestuff"),
    [V("TCP", "host9.example.com", None, "z9hG4bKkdjuw39234")], None, 0))

# 3.3.3 novelsc: a known but non-SIP scheme as Request-URI.
valid("novelsc", msg([
    "OPTIONS soap.beep://192.0.2.77:3002 SIP/2.0",
    "To: sip:kim@example.com",
    "From: sip:lee@example.net;tag=384",
    "Max-Forwards: 3",
    "Call-ID: novelsc.asdfasser0q239nwsdfasdkl34",
    "CSeq: 3923423 OPTIONS",
    "Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234",
    "Content-Length: 0",
]), request(
    "OPTIONS", "soap.beep://192.0.2.77:3002",
    "novelsc.asdfasser0q239nwsdfasdkl34", CS(3923423, "OPTIONS"),
    A("sip:lee@example.net", "384"), A("sip:kim@example.com"),
    [V("TCP", "host9.example.com", None, "z9hG4bKkdjuw39234")], None, 0))

# 3.3.4 unksm2: unknown / non-SIP schemes in To, From and Contact.
valid("unksm2", msg([
    "REGISTER sip:example.com SIP/2.0",
    "To: isbn:0306406152",
    "From: <http://www.example.org>;tag=3234233",
    "Call-ID: unksm2.daksdj@hyphenated-host.example.com",
    "CSeq: 234902 REGISTER",
    "Max-Forwards: 70",
    "Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw",
    "Contact: <name:Jane_Doe>",
    "l: 0",
]), request(
    "REGISTER", "sip:example.com", "unksm2.daksdj@hyphenated-host.example.com",
    CS(234902, "REGISTER"), A("http://www.example.org", "3234233"),
    A("isbn:0306406152"), [V("UDP", "192.0.2.21", 5060, "z9hG4bKkdjuw")],
    [C("name:Jane_Doe")], 0))

# 3.3.5 bext01: unknown option-tags in Require and Proxy-Require.
valid("bext01", msg([
    "OPTIONS sip:kim@example.com SIP/2.0",
    "To: sip:kim@example.com",
    "From: sip:lee@example.net;tag=242etr",
    "Max-Forwards: 6",
    "Call-ID: bext01.0ha0isndaksdj",
    "Require: nothingSupportsThis, nothingSupportsThisEither",
    "Proxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis",
    "CSeq: 8 OPTIONS",
    "Via: SIP/2.0/TLS fold-and-staple.example.com;branch=z9hG4bKkdjuw",
    "Content-Length: 0",
]), request(
    "OPTIONS", "sip:kim@example.com", "bext01.0ha0isndaksdj", CS(8, "OPTIONS"),
    A("sip:lee@example.net", "242etr"), A("sip:kim@example.com"),
    [V("TLS", "fold-and-staple.example.com", None, "z9hG4bKkdjuw")], None, 0))

# 3.3.6 invut: unknown body type (answered 415 later).
INVUT_BODY = crlf("""
<audio>
  <pcmu port="443"/>
</audio>
""")
valid("invut", msg([
    "INVITE sip:kim@example.com SIP/2.0",
    "Contact: <sip:lee@host5.example.net>",
    "To: sip:kim@example.com",
    "From: sip:lee@example.net;tag=8392034",
    "Max-Forwards: 70",
    "Call-ID: invut.0ha0isndaksdjadsfij34n23d",
    "CSeq: 235448 INVITE",
    "Via: SIP/2.0/UDP somehost.example.com;branch=z9hG4bKkdjuw",
    "Content-Type: application/unknownformat",
    "Content-Length: @CL@",
], INVUT_BODY), request(
    "INVITE", "sip:kim@example.com", "invut.0ha0isndaksdjadsfij34n23d",
    CS(235448, "INVITE"), A("sip:lee@example.net", "8392034"),
    A("sip:kim@example.com"),
    [V("UDP", "somehost.example.com", None, "z9hG4bKkdjuw")],
    [C("sip:lee@host5.example.net")], len(INVUT_BODY)))

# 3.3.7 regaut01: an unknown authorization scheme.
valid("regaut01", msg([
    "REGISTER sip:example.com SIP/2.0",
    "To: sip:olga@example.com",
    "From: sip:olga@example.com;tag=8ud89023",
    "Max-Forwards: 70",
    "Call-ID: regaut01.0ha0isndaksdj",
    "CSeq: 9338 REGISTER",
    "Via: SIP/2.0/TCP 192.0.2.253;branch=z9hG4bKkdjuw",
    "Authorization: NoOneKnowsThisScheme opaque-data=here",
    "Content-Length:0",
]), request(
    "REGISTER", "sip:example.com", "regaut01.0ha0isndaksdj",
    CS(9338, "REGISTER"), A("sip:olga@example.com", "8ud89023"),
    A("sip:olga@example.com"),
    [V("TCP", "192.0.2.253", None, "z9hG4bKkdjuw")], None, 0))

# 3.3.8 multi01: several single-valued headers appear twice.
invalid("multi01", msg([
    "INVITE sip:kim@example.com SIP/2.0",
    "Contact: <sip:lee@host25.example.net>",
    "Via: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKkdjuw",
    "Max-Forwards: 70",
    "CSeq: 5 INVITE",
    "Call-ID: multi01.98asdh@192.0.2.1",
    "CSeq: 59 INVITE",
    "Call-ID: multi01.98asdh@192.0.2.2",
    "From: sip:lee@example.net;tag=3413415",
    "To: sip:kim@example.com",
    "To: sip:other@example.org",
    "From: sip:lee@example.org;tag=2923420123",
    "Content-Type: application/sdp",
    "l: @CL@",
    "Contact: <sip:lee@host36.example.net>",
    "Max-Forwards: 5",
], SDP_T), bad_any("Duplicate Call-ID Header", "Duplicate CSeq Header",
                   "Duplicate From Header", "Duplicate To Header",
                   "Duplicate Max-Forwards Header"))

# 3.3.9 mcl01: two Content-Length values (long and compact form), both
# smaller than the body, so framing alone cannot reject it.
invalid("mcl01", msg([
    "OPTIONS sip:kim@example.com SIP/2.0",
    "Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423",
    "To: sip:kim@example.com",
    "From: sip:other@example.net;tag=3923942",
    "Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf",
    "CSeq: 15932 OPTIONS",
    "Content-Length: 13",
    "Max-Forwards: 60",
    "l: 5",
    "Content-Type: text/plain",
], b"Nobody can tell how many of these octets belong to the body.\r\n"),
    bad("Duplicate Content-Length Header"))

# 3.3.10 bcast: a 200 with two Vias, the second a broadcast address.  Parses;
# the UA must drop it rather than send anything to 255.255.255.255.
valid("bcast", msg([
    "SIP/2.0 200 OK",
    "Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923",
    "Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23",
    "Call-ID: bcast.0384840201234ksdfak3j2erwedfsASdf",
    "CSeq: 35 INVITE",
    "From: sip:paul@example.com;tag=11141343",
    "To: sip:paul@example.net;tag=2229",
    "Content-Length: @CL@",
    "Content-Type: application/sdp",
    "Contact: <sip:paul@host28.example.net>",
], SDP_T), response(
    200, "bcast.0384840201234ksdfak3j2erwedfsASdf", CS(35, "INVITE"),
    A("sip:paul@example.com", "11141343"), A("sip:paul@example.net", "2229"),
    [V("UDP", "192.0.2.198", None, "z9hG4bK1324923"),
     V("UDP", "255.255.255.255", None, "z9hG4bK1saber23")],
    [C("sip:paul@host28.example.net")], len(SDP_T)))

# 3.3.11 zeromf: Max-Forwards of zero (a proxy answers 483; OPTIONS to a UA
# is still answered).
valid("zeromf", msg([
    "OPTIONS sip:kim@example.com SIP/2.0",
    "To: sip:kim@example.com",
    "From: sip:lee@example.net;tag=3ghsd41",
    "Call-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas",
    "CSeq: 39234321 OPTIONS",
    "Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i",
    "Max-Forwards: 0",
    "Content-Length: 0",
]), request(
    "OPTIONS", "sip:kim@example.com", "zeromf.jfasdlfnm2o2l43r5u0asdfas",
    CS(39234321, "OPTIONS"), A("sip:lee@example.net", "3ghsd41"),
    A("sip:kim@example.com"),
    [V("UDP", "host1.example.com", None, "z9hG4bKkdjuw2349i")], None, 0))

# 3.3.12 cparam01: Contact in addr-spec form: the ;params after the URI are
# header parameters, not URI parameters.
valid("cparam01", msg([
    "REGISTER sip:example.com SIP/2.0",
    "Via: SIP/2.0/UDP 192.0.2.11:5060;branch=z9hG4bKcp01",
    "Max-Forwards: 70",
    "From: sip:watson@example.com;tag=DkfVgjkrtMwaerKKpe",
    "To: sip:watson@example.com",
    "Call-ID: cparam01.70710@saint.example.com",
    "CSeq: 2 REGISTER",
    "Contact: sip:+12125550100@gw1.example.net;unknownparam;expires=120",
    "l: 0",
]), request(
    "REGISTER", "sip:example.com", "cparam01.70710@saint.example.com",
    CS(2, "REGISTER"), A("sip:watson@example.com", "DkfVgjkrtMwaerKKpe"),
    A("sip:watson@example.com"),
    [V("UDP", "192.0.2.11", 5060, "z9hG4bKcp01")],
    [C("sip:+12125550100@gw1.example.net", 120)], 0))

# 3.3.13 cparam02: Contact in name-addr form: params inside <> belong to the
# URI, params after > are header params.
valid("cparam02", msg([
    "REGISTER sip:example.com SIP/2.0",
    "Via: SIP/2.0/UDP 192.0.2.11:5060;branch=z9hG4bKcp02",
    "Max-Forwards: 70",
    "From: sip:watson@example.com;tag=838293",
    "To: sip:watson@example.com",
    "Call-ID: cparam02.70710@saint.example.com",
    "CSeq: 3 REGISTER",
    "Contact: <sip:+12125550100@gw1.example.net;unknownparam;expires=999>;expires=60",
    "l: 0",
]), request(
    "REGISTER", "sip:example.com", "cparam02.70710@saint.example.com",
    CS(3, "REGISTER"), A("sip:watson@example.com", "838293"),
    A("sip:watson@example.com"),
    [V("UDP", "192.0.2.11", 5060, "z9hG4bKcp02")],
    [C("sip:+12125550100@gw1.example.net;unknownparam;expires=999", 60)], 0))

# 3.3.14 regescrt: escaped headers inside a bracketed Contact URI are fine.
REGESCRT_CT = "sip:quinn@example.com?Route=%3Csip:sip.example.com%3E"
valid("regescrt", msg([
    "REGISTER sip:example.com SIP/2.0",
    "To: sip:quinn@example.com",
    "From: sip:quinn@example.com;tag=8",
    "Max-Forwards: 70",
    "Call-ID: regescrt.k345asrl3fdbv@192.0.2.1",
    "CSeq: 14398234 REGISTER",
    "Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw",
    f"M: <{REGESCRT_CT}>",
    "L:0",
]), request(
    "REGISTER", "sip:example.com", "regescrt.k345asrl3fdbv@192.0.2.1",
    CS(14398234, "REGISTER"), A("sip:quinn@example.com", "8"),
    A("sip:quinn@example.com"),
    [V("UDP", "host5.example.com", None, "z9hG4bKkdjuw")],
    [C(REGESCRT_CT)], 0))

# 3.3.15 sdp01: an SDP offer while Accept names only an unknown type.
valid("sdp01", msg([
    "INVITE sip:kim@example.com SIP/2.0",
    "To: sip:k_im@example.com",
    "Contact: <sip:lee@host15.example.net>",
    "From: sip:lee@example.net;tag=234",
    "Max-Forwards: 5",
    "Call-ID: sdp01.ndaksdj9342dasdd",
    "Accept: text/nobodyKnowsThis",
    "CSeq: 8 INVITE",
    "Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw",
    "Content-Length: @CL@",
    "Content-Type: application/sdp",
], SDP_T), request(
    "INVITE", "sip:kim@example.com", "sdp01.ndaksdj9342dasdd", CS(8, "INVITE"),
    A("sip:lee@example.net", "234"), A("sip:k_im@example.com"),
    [V("UDP", "192.0.2.15", None, "z9hG4bKkdjuw")],
    [C("sip:lee@host15.example.net")], len(SDP_T)))


# ============================================================================
# RFC 4475 section 3.4 -- backward compatibility
# ============================================================================

# 3.4.1 inv2543: an RFC 2543 INVITE: no branch, no From tag, no Max-Forwards.
INV2543_SDP = crlf("""
v=0
o=GatewayUser 2890844526 2890844526 IN IP4 gw.example.com
s=Session SDP
c=IN IP4 192.0.2.220
t=0 0
m=audio 3456 RTP/AVP 0
""")
valid("inv2543", msg([
    "INVITE sip:UserB@example.com SIP/2.0",
    "Via: SIP/2.0/UDP iftgw.example.com",
    "From: <sip:+13035551111@ift.client.example.net;user=phone>",
    "Record-Route: <sip:UserB@example.com;maddr=ss1.example.com>",
    "To: sip:+16505552222@ss1.example.net;user=phone",
    "Call-ID: inv2543.1717@ift.client.example.com",
    "CSeq: 56 INVITE",
    "Content-Type: application/sdp",
    "Content-Length: @CL@",
], INV2543_SDP), request(
    "INVITE", "sip:UserB@example.com", "inv2543.1717@ift.client.example.com",
    CS(56, "INVITE"),
    A("sip:+13035551111@ift.client.example.net;user=phone", None),
    A("sip:+16505552222@ss1.example.net", None),
    [V("UDP", "iftgw.example.com", None, None)], None, len(INV2543_SDP)))


# ============================================================================
# RFC 5118 -- IPv6 torture cases
# ============================================================================

def v6_register(ruri, name, branch):
    return msg([
        f"REGISTER {ruri} SIP/2.0",
        f"To: <sip:rita@example.com>",
        f"From: <sip:rita@example.com>;tag={name}-81x",
        f"Via: SIP/2.0/UDP [2001:db8::9:1];branch={branch}",
        f"Call-ID: {name}.hh89as0d-asd88jkk@[2001:db8::9:1]",
        "CSeq: 9878 REGISTER",
        "Max-Forwards: 70",
        'Contact: "Rita" <sip:rita@[2001:db8::9:1]>',
        "Content-Length: 0",
    ])


def v6_register_expect(ruri, name, branch):
    return request(
        "REGISTER", ruri, f"{name}.hh89as0d-asd88jkk@[2001:db8::9:1]",
        CS(9878, "REGISTER"), A("sip:rita@example.com", f"{name}-81x"),
        A("sip:rita@example.com"),
        [V("UDP", "[2001:db8::9:1]", None, branch)],
        [C("sip:rita@[2001:db8::9:1]")], 0)


# 4.1 ipv6-good: an IPv6 reference as Request-URI host.
valid("ipv6-good", v6_register("sip:[2001:db8::10]", "ipv6-good", "z9hG4bKas3-111"),
      v6_register_expect("sip:[2001:db8::10]", "ipv6-good", "z9hG4bKas3-111"))

# 4.2 ipv6-bad: an IPv6 address without the [] delimiters.
invalid("ipv6-bad", v6_register("sip:2001:db8::10", "ipv6-bad", "z9hG4bKas3-112"),
        bad("Malformed Request-URI"))

# 4.3 port-ambiguous: [2001:db8::10:5070] -- the 5070 is part of the address,
# there is no port.  Valid.
valid("port-ambiguous",
      v6_register("sip:[2001:db8::10:5070]", "port-ambiguous", "z9hG4bKas3-113"),
      v6_register_expect("sip:[2001:db8::10:5070]", "port-ambiguous", "z9hG4bKas3-113"))

# 4.4 port-unambiguous: [2001:db8::10]:5070.
valid("port-unambiguous",
      v6_register("sip:[2001:db8::10]:5070", "port-unambiguous", "z9hG4bKas3-114"),
      v6_register_expect("sip:[2001:db8::10]:5070", "port-unambiguous", "z9hG4bKas3-114"))

# (RFC 5118 4.2 variant) an IPv6 reference that never closes its bracket.
invalid("ipv6-unclosed",
        v6_register("sip:[2001:db8::10", "ipv6-unclosed", "z9hG4bKas3-115"),
        bad("Malformed Request-URI"))

# Port beyond 65535 after an IPv6 reference in the Request-URI.
invalid("ipv6-port-overflow",
        v6_register("sip:[2001:db8::10]:65536", "ipv6-port-overflow", "z9hG4bKas3-116"),
        bad("Malformed Request-URI"))


def v6_options(name, via_lines, via_expect, extra=()):
    return (msg([
        "OPTIONS sip:[2001:db8::10] SIP/2.0",
        "To: sip:sam@[2001:db8::10]",
        f"From: sip:tess@example.com;tag={name}-7a",
        *via_lines,
        f"Call-ID: {name}.SSG95523997077@hlau_4100",
        *extra,
        "CSeq: 612 OPTIONS",
        "Max-Forwards: 70",
        "Content-Length: 0",
    ]), request(
        "OPTIONS", "sip:[2001:db8::10]", f"{name}.SSG95523997077@hlau_4100",
        CS(612, "OPTIONS"), A("sip:tess@example.com", f"{name}-7a"),
        A("sip:sam@[2001:db8::10]"), via_expect, None, 0))


# 4.5 via-received-param-with-delim: IPv6 sent-by with port; received=[...].
valid("via-received-param-with-delim", *v6_options(
    "via-received-param-with-delim",
    ["Via: SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3-121"
     ";received=[2001:db8::9:255]"],
    [V("UDP", "[2001:db8::9:1]", 6050, "z9hG4bKas3-121")]))

# 4.5 via-received-param-no-delim: received=IPv6 without brackets.
valid("via-received-param-no-delim", *v6_options(
    "via-received-param-no-delim",
    ["Via: SIP/2.0/UDP [2001:db8::9:1]:6050;received=2001:db8::9:255"
     ";branch=z9hG4bKas3-122"],
    [V("UDP", "[2001:db8::9:1]", 6050, "z9hG4bKas3-122")]))

# Port beyond 65535 in a Via sent-by with an IPv6 host.
invalid("via-ipv6-port-overflow", v6_options(
    "via-ipv6-port-overflow",
    ["Via: SIP/2.0/UDP [2001:db8::9:1]:70000;branch=z9hG4bKas3-123"],
    [])[0], bad("Bad Via Header"))

# 4.6 ipv6-in-sdp: IPv6 addresses in the SDP body.
V6_SDP = crlf("""
v=0
o=sam 1027 1027 IN IP6 2001:db8::10
s=-
c=IN IP6 2001:db8::10
t=0 0
m=audio 6010 RTP/AVP 0
a=rtpmap:0 PCMU/8000
""")
valid("ipv6-in-sdp", msg([
    "INVITE sip:sam@[2001:db8::10] SIP/2.0",
    "To: sip:sam@[2001:db8::10]",
    "From: sip:tess@example.com;tag=81x2",
    "Via: SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-131",
    "Call-ID: ipv6-in-sdp.SSG9559905523997077@hlau_4100",
    "Contact: \"Tess\" <sip:tess@[2001:db8::9:1]>",
    "CSeq: 8612 INVITE",
    "Max-Forwards: 70",
    "Content-Type: application/sdp",
    "Content-Length: @CL@",
], V6_SDP), request(
    "INVITE", "sip:sam@[2001:db8::10]",
    "ipv6-in-sdp.SSG9559905523997077@hlau_4100", CS(8612, "INVITE"),
    A("sip:tess@example.com", "81x2"), A("sip:sam@[2001:db8::10]"),
    [V("UDP", "[2001:db8::9:1]", None, "z9hG4bKas3-131")],
    [C("sip:tess@[2001:db8::9:1]")], len(V6_SDP)))

# 4.7 mult-ip-in-header: IPv6 and IPv4 hops in one message.
valid("mult-ip-in-header", msg([
    "BYE sip:sam@[2001:db8::10] SIP/2.0",
    "To: sip:sam@[2001:db8::10];tag=bd76ya",
    "From: sip:tess@example.com;tag=81x2",
    "Via: SIP/2.0/UDP [2001:db8::9:ffff]:5060;branch=z9hG4bKas3-141;received=[2001:db8::9:255]",
    "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKjhja8781hjuaij65144;received=192.0.2.2",
    "Call-ID: mult-ip-in-header.997077@lab.example.com",
    "CSeq: 6912 BYE",
    "Max-Forwards: 70",
    "Content-Length: 0",
]), request(
    "BYE", "sip:sam@[2001:db8::10]", "mult-ip-in-header.997077@lab.example.com",
    CS(6912, "BYE"), A("sip:tess@example.com", "81x2"),
    A("sip:sam@[2001:db8::10]", "bd76ya"),
    [V("UDP", "[2001:db8::9:ffff]", 5060, "z9hG4bKas3-141"),
     V("UDP", "192.0.2.1", None, "z9hG4bKjhja8781hjuaij65144")], None, 0))

# 4.8 mult-ip-in-sdp: IPv4 and IPv6 media in the same offer.
MULT_SDP = crlf("""
v=0
o=tess 1027 1027 IN IP4 192.0.2.1
s=-
c=IN IP4 192.0.2.1
t=0 0
m=audio 6010 RTP/AVP 0
c=IN IP6 2001:db8::1
a=rtpmap:0 PCMU/8000
m=audio 6020 RTP/AVP 0
a=rtpmap:0 PCMU/8000
""")
valid("mult-ip-in-sdp", msg([
    "INVITE sip:sam@[2001:db8::10] SIP/2.0",
    "To: sip:sam@[2001:db8::10]",
    "From: sip:tess@example.com;tag=81x2",
    "Via: SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3-151",
    "Call-ID: mult-ip-in-sdp.SSG9559905523997077@hlau_4100",
    "Contact: \"Tess\" <sip:tess@[2001:db8::9:1]>",
    "CSeq: 8912 INVITE",
    "Max-Forwards: 70",
    "Content-Type: application/sdp",
    "Content-Length: @CL@",
], MULT_SDP), request(
    "INVITE", "sip:sam@[2001:db8::10]",
    "mult-ip-in-sdp.SSG9559905523997077@hlau_4100", CS(8912, "INVITE"),
    A("sip:tess@example.com", "81x2"), A("sip:sam@[2001:db8::10]"),
    [V("UDP", "[2001:db8::9:1]", None, "z9hG4bKas3-151")],
    [C("sip:tess@[2001:db8::9:1]")], len(MULT_SDP)))

# 4.9 ipv4-mapped-ipv6: ::ffff:a.b.c.d in Via, Contact and SDP.
MAPPED_SDP = crlf("""
v=0
o=tess 1027 1027 IN IP6 ::ffff:192.0.2.2
s=-
c=IN IP6 ::ffff:192.0.2.2
t=0 0
m=audio 3456 RTP/AVP 0
a=rtpmap:0 PCMU/8000
""")
valid("ipv4-mapped-ipv6", msg([
    "INVITE sip:sam@example.com SIP/2.0",
    "To: sip:sam@example.com",
    "From: sip:tess@example.com;tag=81x4",
    "Via: SIP/2.0/UDP [::ffff:192.0.2.10]:19823;branch=z9hG4bKbh161",
    "Via: SIP/2.0/UDP [::ffff:192.0.2.2];branch=z9hG4bKas3-162",
    "Call-ID: ipv4-mapped-ipv6.SSG95523997077@hlau_4100",
    "Contact: \"Tess\" <sip:tess@[::ffff:192.0.2.2]>",
    "CSeq: 612 INVITE",
    "Max-Forwards: 70",
    "Content-Type: application/sdp",
    "Content-Length: @CL@",
], MAPPED_SDP), request(
    "INVITE", "sip:sam@example.com",
    "ipv4-mapped-ipv6.SSG95523997077@hlau_4100", CS(612, "INVITE"),
    A("sip:tess@example.com", "81x4"), A("sip:sam@example.com"),
    [V("UDP", "[::ffff:192.0.2.10]", 19823, "z9hG4bKbh161"),
     V("UDP", "[::ffff:192.0.2.2]", None, "z9hG4bKas3-162")],
    [C("sip:tess@[::ffff:192.0.2.2]")], len(MAPPED_SDP)))


def abnf_case(name, ref, branch, to_ref=None):
    return msg([
        f"OPTIONS sip:sam@{ref} SIP/2.0",
        f"To: sip:sam@{to_ref or ref}",
        f"From: sip:tess@example.com;tag={name}-810x2",
        f"Via: SIP/2.0/UDP lab1.east.example.com;branch={branch}",
        f"Call-ID: {name}.G9559905523997077@hlau_4100",
        "CSeq: 689 OPTIONS",
        "Max-Forwards: 70",
        "Content-Length: 0",
    ])


# 4.10 ipv6-bug-abnf-3-colons: RFC 3261's own ABNF derives three colons
# before an embedded IPv4 address; RFC 5118 says implementations must
# tolerate it.  Valid.
valid("ipv6-bug-abnf-3-colons",
      abnf_case("ipv6-bug-abnf-3-colons", "[2001:db8:::192.0.2.1]", "z9hG4bKas3-171"),
      request("OPTIONS", "sip:sam@[2001:db8:::192.0.2.1]",
              "ipv6-bug-abnf-3-colons.G9559905523997077@hlau_4100",
              CS(689, "OPTIONS"),
              A("sip:tess@example.com", "ipv6-bug-abnf-3-colons-810x2"),
              A("sip:sam@[2001:db8:::192.0.2.1]"),
              [V("UDP", "lab1.east.example.com", None, "z9hG4bKas3-171")],
              None, 0))

# 4.10 ipv6-correct-abnf-2-colons: the RFC 4291 form of the same address.
valid("ipv6-correct-abnf-2-colons",
      abnf_case("ipv6-correct-abnf-2-colons", "[2001:db8::192.0.2.1]", "z9hG4bKas3-172"),
      request("OPTIONS", "sip:sam@[2001:db8::192.0.2.1]",
              "ipv6-correct-abnf-2-colons.G9559905523997077@hlau_4100",
              CS(689, "OPTIONS"),
              A("sip:tess@example.com", "ipv6-correct-abnf-2-colons-810x2"),
              A("sip:sam@[2001:db8::192.0.2.1]"),
              [V("UDP", "lab1.east.example.com", None, "z9hG4bKas3-172")],
              None, 0))

# ':::' where NO IPv4 tail follows: not derivable from RFC 3261's grammar
# nor RFC 4291's, so never tolerated.
invalid("ipv6-3colons-bad",
        abnf_case("ipv6-3colons-bad", "[2001:db8:::10]", "z9hG4bKas3-173",
                  to_ref="example.com"),
        bad("Malformed Request-URI"))


# ============================================================================
# Ordinary traffic -- one call, registration with digest, redirects
# ============================================================================

CALL_ID = "3848276298220188511@192.0.2.10"
A_TAG = "9fxced76sl"
B_TAG = "8321234356"
INV_BRANCH = "z9hG4bK74bf9a1c"
ALICE = "sip:alice@example.com"
BOB = "sip:bob@example.net"
INV_VIA_RESP = f"Via: SIP/2.0/UDP 192.0.2.10:5060;branch={INV_BRANCH};rport=5060;received=192.0.2.10"
INV_VIA_J = [V("UDP", "192.0.2.10", 5060, INV_BRANCH)]

valid("call-invite-sdp", msg([
    f"INVITE {BOB} SIP/2.0",
    f"Via: SIP/2.0/UDP 192.0.2.10:5060;branch={INV_BRANCH};rport",
    "Max-Forwards: 70",
    f'From: "Alice" <{ALICE}>;tag={A_TAG}',
    f"To: <{BOB}>",
    f"Call-ID: {CALL_ID}",
    "CSeq: 1 INVITE",
    "Contact: <sip:alice@192.0.2.10:5060;transport=udp>",
    "Content-Type: application/sdp",
    "Content-Length: @CL@",
], SDP_A), request(
    "INVITE", BOB, CALL_ID, CS(1, "INVITE"), A(ALICE, A_TAG), A(BOB), INV_VIA_J,
    [C("sip:alice@192.0.2.10:5060;transport=udp")], len(SDP_A)))

valid("call-100-trying", msg([
    "SIP/2.0 100 Trying",
    INV_VIA_RESP,
    f'From: "Alice" <{ALICE}>;tag={A_TAG}',
    f"To: <{BOB}>",
    f"Call-ID: {CALL_ID}",
    "CSeq: 1 INVITE",
    "Content-Length: 0",
]), response(100, CALL_ID, CS(1, "INVITE"), A(ALICE, A_TAG), A(BOB),
             INV_VIA_J, None, 0))

valid("call-180-ringing", msg([
    "SIP/2.0 180 Ringing",
    INV_VIA_RESP,
    f'From: "Alice" <{ALICE}>;tag={A_TAG}',
    f"To: <{BOB}>;tag={B_TAG}",
    f"Call-ID: {CALL_ID}",
    "CSeq: 1 INVITE",
    "Contact: <sip:bob@192.0.2.20:5060>",
    "Content-Length: 0",
]), response(180, CALL_ID, CS(1, "INVITE"), A(ALICE, A_TAG), A(BOB, B_TAG),
             INV_VIA_J, [C("sip:bob@192.0.2.20:5060")], 0))

valid("call-183-sdp", msg([
    "SIP/2.0 183 Session Progress",
    INV_VIA_RESP,
    f'From: "Alice" <{ALICE}>;tag={A_TAG}',
    f"To: <{BOB}>;tag={B_TAG}",
    f"Call-ID: {CALL_ID}",
    "CSeq: 1 INVITE",
    "Contact: <sip:bob@192.0.2.20:5060>",
    "Require: 100rel",
    "RSeq: 1",
    "Content-Type: application/sdp",
    "Content-Length: @CL@",
], SDP_B), response(183, CALL_ID, CS(1, "INVITE"), A(ALICE, A_TAG),
                    A(BOB, B_TAG), INV_VIA_J, [C("sip:bob@192.0.2.20:5060")],
                    len(SDP_B)))

valid("call-200-sdp", msg([
    "SIP/2.0 200 OK",
    INV_VIA_RESP,
    f'From: "Alice" <{ALICE}>;tag={A_TAG}',
    f"To: <{BOB}>;tag={B_TAG}",
    f"Call-ID: {CALL_ID}",
    "CSeq: 1 INVITE",
    "Contact: <sip:bob@192.0.2.20:5060>",
    "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS",
    "Content-Type: application/sdp",
    "Content-Length: @CL@",
], SDP_B), response(200, CALL_ID, CS(1, "INVITE"), A(ALICE, A_TAG),
                    A(BOB, B_TAG), INV_VIA_J, [C("sip:bob@192.0.2.20:5060")],
                    len(SDP_B)))

valid("call-ack", msg([
    "ACK sip:bob@192.0.2.20:5060 SIP/2.0",
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK5a1e0c77;rport",
    "Max-Forwards: 70",
    f'From: "Alice" <{ALICE}>;tag={A_TAG}',
    f"To: <{BOB}>;tag={B_TAG}",
    f"Call-ID: {CALL_ID}",
    "CSeq: 1 ACK",
    "Content-Length: 0",
]), request("ACK", "sip:bob@192.0.2.20:5060", CALL_ID, CS(1, "ACK"),
            A(ALICE, A_TAG), A(BOB, B_TAG),
            [V("UDP", "192.0.2.10", 5060, "z9hG4bK5a1e0c77")], None, 0))

valid("call-bye", msg([
    "BYE sip:alice@192.0.2.10:5060;transport=udp SIP/2.0",
    "Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKnashds10",
    "Max-Forwards: 70",
    f"From: <{BOB}>;tag={B_TAG}",
    f'To: "Alice" <{ALICE}>;tag={A_TAG}',
    f"Call-ID: {CALL_ID}",
    "CSeq: 231 BYE",
    "Content-Length: 0",
]), request("BYE", "sip:alice@192.0.2.10:5060;transport=udp", CALL_ID,
            CS(231, "BYE"), A(BOB, B_TAG), A(ALICE, A_TAG),
            [V("UDP", "192.0.2.20", 5060, "z9hG4bKnashds10")], None, 0))

CX_CALL = "5f1c7e22b0d9a3@192.0.2.10"
valid("call-cancel", msg([
    f"CANCEL {BOB} SIP/2.0",
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKc4nc3l01;rport",
    "Max-Forwards: 70",
    f'From: "Alice" <{ALICE}>;tag=ca11ee',
    f"To: <{BOB}>",
    f"Call-ID: {CX_CALL}",
    "CSeq: 7 CANCEL",
    "Content-Length: 0",
]), request("CANCEL", BOB, CX_CALL, CS(7, "CANCEL"), A(ALICE, "ca11ee"),
            A(BOB), [V("UDP", "192.0.2.10", 5060, "z9hG4bKc4nc3l01")], None, 0))

valid("call-487", msg([
    "SIP/2.0 487 Request Terminated",
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKc4nc3l01;rport=5060;received=192.0.2.10",
    f'From: "Alice" <{ALICE}>;tag=ca11ee',
    f"To: <{BOB}>;tag=t487x",
    f"Call-ID: {CX_CALL}",
    "CSeq: 7 INVITE",
    "Content-Length: 0",
]), response(487, CX_CALL, CS(7, "INVITE"), A(ALICE, "ca11ee"), A(BOB, "t487x"),
             [V("UDP", "192.0.2.10", 5060, "z9hG4bKc4nc3l01")], None, 0))

valid("options-ping", msg([
    "OPTIONS sip:ss1.example.org SIP/2.0",
    "Via: SIP/2.0/TCP 192.0.2.30:5060;branch=z9hG4bKopt7711",
    "Max-Forwards: 70",
    "From: <sip:ping@monitor.example.com>;tag=op9x1",
    "To: <sip:ss1.example.org>",
    "Call-ID: options-ping.00001@192.0.2.30",
    "CSeq: 1 OPTIONS",
    "Accept: application/sdp",
    "Content-Length: 0",
]), request("OPTIONS", "sip:ss1.example.org", "options-ping.00001@192.0.2.30",
            CS(1, "OPTIONS"), A("sip:ping@monitor.example.com", "op9x1"),
            A("sip:ss1.example.org"),
            [V("TCP", "192.0.2.30", 5060, "z9hG4bKopt7711")], None, 0))

# 302 carrying RFC 4694 number portability parameters in the user part.
LRN_CT = "sip:+12125551212;rn=+12125550000;npdi@lrn.example.net;user=phone"
valid("redirect-302-lrn", msg([
    "SIP/2.0 302 Moved Temporarily",
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKnp5Lrn01",
    "From: <sip:+13035551111@example.com;user=phone>;tag=a73kszlfl",
    "To: <sip:+12125551212@lrn.example.net;user=phone>;tag=lrnq1",
    "Call-ID: redirect-302-lrn.7712a0c3@192.0.2.1",
    "CSeq: 101 INVITE",
    f"Contact: <{LRN_CT}>",
    "Content-Length: 0",
]), response(302, "redirect-302-lrn.7712a0c3@192.0.2.1", CS(101, "INVITE"),
             A("sip:+13035551111@example.com;user=phone", "a73kszlfl"),
             A("sip:+12125551212@lrn.example.net;user=phone", "lrnq1"),
             [V("UDP", "192.0.2.1", 5060, "z9hG4bKnp5Lrn01")],
             [C(LRN_CT)], 0))

NPDI_CT = "sip:+12125551213;npdi@lrn.example.net;user=phone"
valid("redirect-302-npdi", msg([
    "SIP/2.0 302 Moved Temporarily",
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKnp5Lrn02",
    "From: <sip:+13035551111@example.com;user=phone>;tag=b83kszq",
    "To: <sip:+12125551213@lrn.example.net;user=phone>;tag=lrnq2",
    "Call-ID: redirect-302-npdi.7712a0c4@192.0.2.1",
    "CSeq: 102 INVITE",
    f"Contact: <{NPDI_CT}>;expires=0",
    "Content-Length: 0",
]), response(302, "redirect-302-npdi.7712a0c4@192.0.2.1", CS(102, "INVITE"),
             A("sip:+13035551111@example.com;user=phone", "b83kszq"),
             A("sip:+12125551213@lrn.example.net;user=phone", "lrnq2"),
             [V("UDP", "192.0.2.1", 5060, "z9hG4bKnp5Lrn02")],
             [C(NPDI_CT, 0)], 0))

# tel: Request-URI with npdi and rn (RFC 4694).
TEL_RURI = "tel:+1-212-555-1212;npdi;rn=+1-212-555-0000"
valid("tel-ruri-lrn", msg([
    f"INVITE {TEL_RURI} SIP/2.0",
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKtel0001",
    "Max-Forwards: 69",
    "From: <sip:+13035551111@example.com;user=phone>;tag=t3lf",
    "To: <tel:+1-212-555-1212>",
    "Call-ID: tel-ruri-lrn.88af01@192.0.2.1",
    "CSeq: 1 INVITE",
    "Contact: <sip:+13035551111@192.0.2.1:5060;user=phone>",
    "Content-Length: 0",
]), request("INVITE", TEL_RURI, "tel-ruri-lrn.88af01@192.0.2.1",
            CS(1, "INVITE"), A("sip:+13035551111@example.com;user=phone", "t3lf"),
            A("tel:+1-212-555-1212"),
            [V("UDP", "192.0.2.1", 5060, "z9hG4bKtel0001")],
            [C("sip:+13035551111@192.0.2.1:5060;user=phone")], 0))

# Registration with digest authentication.  The Authorization response is a
# real RFC 2617 qop=auth digest for password "fixture-secret".
REG_CALL = "reg.843817637684230@192.0.2.10"
REALM = "example.com"
NONCE = "5d3f8a2c9b71e04f6a8d2c1b7e9f0a35"
OPAQUE = "c0ffee00d15ea5e5baadf00d12345678"
CNONCE = "0a4f113b"
REG_URI = "sip:registrar.example.com"


def _md5(s):
    return hashlib.md5(s.encode()).hexdigest()


DIGEST = _md5(":".join([
    _md5(f"alice:{REALM}:fixture-secret"), NONCE, "00000001", CNONCE, "auth",
    _md5(f"REGISTER:{REG_URI}")]))
REG_VIA1 = V("UDP", "192.0.2.10", 5060, "z9hG4bKreg1a")
REG_VIA2 = V("UDP", "192.0.2.10", 5060, "z9hG4bKreg2b")

valid("reg-initial", msg([
    f"REGISTER {REG_URI} SIP/2.0",
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKreg1a",
    "Max-Forwards: 70",
    f'To: "Alice" <{ALICE}>',
    f'From: "Alice" <{ALICE}>;tag=456248',
    f"Call-ID: {REG_CALL}",
    "CSeq: 1826 REGISTER",
    "Contact: <sip:alice@192.0.2.10:5060>;expires=3600",
    "Expires: 7200",
    "Content-Length: 0",
]), request("REGISTER", REG_URI, REG_CALL, CS(1826, "REGISTER"),
            A(ALICE, "456248"), A(ALICE), [REG_VIA1],
            [C("sip:alice@192.0.2.10:5060", 3600)], 0))

valid("reg-401", msg([
    "SIP/2.0 401 Unauthorized",
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKreg1a;received=192.0.2.10",
    f'To: "Alice" <{ALICE}>;tag=2493k59kd',
    f'From: "Alice" <{ALICE}>;tag=456248',
    f"Call-ID: {REG_CALL}",
    "CSeq: 1826 REGISTER",
    f'WWW-Authenticate: Digest realm="{REALM}", nonce="{NONCE}", '
    f'qop="auth", opaque="{OPAQUE}", algorithm=MD5',
    "Content-Length: 0",
]), response(401, REG_CALL, CS(1826, "REGISTER"), A(ALICE, "456248"),
             A(ALICE, "2493k59kd"), [REG_VIA1], None, 0))

valid("reg-auth", msg([
    f"REGISTER {REG_URI} SIP/2.0",
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKreg2b",
    "Max-Forwards: 70",
    f'To: "Alice" <{ALICE}>',
    f'From: "Alice" <{ALICE}>;tag=456248',
    f"Call-ID: {REG_CALL}",
    "CSeq: 1827 REGISTER",
    "Contact: <sip:alice@192.0.2.10:5060>;expires=3600",
    f'Authorization: Digest username="alice",realm="{REALM}",',
    f' nonce="{NONCE}",uri="{REG_URI}",',
    f' response="{DIGEST}",cnonce="{CNONCE}",nc=00000001,qop=auth,',
    f' opaque="{OPAQUE}",algorithm=MD5',
    "Content-Length: 0",
]), request("REGISTER", REG_URI, REG_CALL, CS(1827, "REGISTER"),
            A(ALICE, "456248"), A(ALICE), [REG_VIA2],
            [C("sip:alice@192.0.2.10:5060", 3600)], 0))

valid("reg-200-expires", msg([
    "SIP/2.0 200 OK",
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKreg2b;received=192.0.2.10",
    f'To: "Alice" <{ALICE}>;tag=2493k59kd',
    f'From: "Alice" <{ALICE}>;tag=456248',
    f"Call-ID: {REG_CALL}",
    "CSeq: 1827 REGISTER",
    "Contact: <sip:alice@192.0.2.10:5060>;expires=3600",
    'Contact: "Doe, Jane" <sip:alice@[2001:db8::10]:5062;transport=tcp>;expires=1800,'
    " <sip:alice@192.0.2.11>;q=0.5;expires=600",
    "m: sip:alice@192.0.2.12;expires=45;q=1.0",
    "Date: Tue, 15 Nov 2011 08:12:31 GMT",
    "Content-Length: 0",
]), response(200, REG_CALL, CS(1827, "REGISTER"), A(ALICE, "456248"),
             A(ALICE, "2493k59kd"), [REG_VIA2],
             [C("sip:alice@192.0.2.10:5060", 3600),
              C("sip:alice@[2001:db8::10]:5062;transport=tcp", 1800),
              C("sip:alice@192.0.2.11", 600),
              C("sip:alice@192.0.2.12", 45)], 0))

valid("reg-423", msg([
    "SIP/2.0 423 Interval Too Brief",
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKreg3c;received=192.0.2.10",
    f"To: <{ALICE}>;tag=423ab",
    f"From: <{ALICE}>;tag=77ee1",
    "Call-ID: reg-423.99ac@192.0.2.10",
    "CSeq: 5 REGISTER",
    "Min-Expires: 1800",
    "Content-Length: 0",
]), response(423, "reg-423.99ac@192.0.2.10", CS(5, "REGISTER"),
             A(ALICE, "77ee1"), A(ALICE, "423ab"),
             [V("UDP", "192.0.2.10", 5060, "z9hG4bKreg3c")], None, 0))

valid("reg-unregister-all", msg([
    f"REGISTER {REG_URI} SIP/2.0",
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKreg4d",
    "Max-Forwards: 70",
    f"To: <{ALICE}>",
    f"From: <{ALICE}>;tag=456248",
    f"Call-ID: {REG_CALL}",
    "CSeq: 1830 REGISTER",
    "Contact: *",
    "Expires: 0",
    "Content-Length: 0",
]), request("REGISTER", REG_URI, REG_CALL, CS(1830, "REGISTER"),
            A(ALICE, "456248"), A(ALICE),
            [V("UDP", "192.0.2.10", 5060, "z9hG4bKreg4d")], [C("*")], 0))

valid("invite-407", msg([
    "SIP/2.0 407 Proxy Authentication Required",
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK407a;received=192.0.2.10",
    f'From: "Alice" <{ALICE}>;tag=p7ag',
    f"To: <{BOB}>;tag=prx407",
    "Call-ID: invite-407.33be@192.0.2.10",
    "CSeq: 1 INVITE",
    f'Proxy-Authenticate: Digest realm="{REALM}", nonce="{NONCE[::-1]}", '
    f'qop="auth", opaque="{OPAQUE[::-1]}", algorithm=MD5, stale=FALSE',
    "Content-Length: 0",
]), response(407, "invite-407.33be@192.0.2.10", CS(1, "INVITE"),
             A(ALICE, "p7ag"), A(BOB, "prx407"),
             [V("UDP", "192.0.2.10", 5060, "z9hG4bK407a")], None, 0))


# ============================================================================
# Header syntax: compact forms, case, multiple values, folding
# ============================================================================

# Every registered compact form in one request.
CMP_BODY = b"Please transfer this call to Carol.\r\n"
valid("compact-all", msg([
    "REFER sip:bob@192.0.2.20:5060 SIP/2.0",
    "v: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKcmp01",
    "Max-Forwards: 70",
    f'f: "Alice" <{ALICE}>;tag=cmp1f',
    f"t: <{BOB}>;tag=cmp1t",
    "i: compact-all.5542@192.0.2.10",
    "CSeq: 3 REFER",
    "m: <sip:alice@192.0.2.10:5060>",
    "r: <sip:carol@example.org>",
    f"b: <{ALICE}>",
    "a: *;audio;explicit",
    "j: *;video",
    "d: proxy, recurse, parallel",
    "k: replaces, timer, norefersub",
    "o: refer",
    "u: refer, presence, dialog",
    "s: Compact forms, all of them",
    "x: 1800;refresher=uac",
    'y: "ZmFrZS1pZGVudGl0eS1zaWduYXR1cmUtZm9yLWZpeHR1cmVz"',
    "n: <https://cert.example.com/alice.cer>;alg=rsa-sha1",
    "c: text/plain",
    "e: identity",
    "l: @CL@",
], CMP_BODY), request(
    "REFER", "sip:bob@192.0.2.20:5060", "compact-all.5542@192.0.2.10",
    CS(3, "REFER"), A(ALICE, "cmp1f"), A(BOB, "cmp1t"),
    [V("UDP", "192.0.2.10", 5060, "z9hG4bKcmp01")],
    [C("sip:alice@192.0.2.10:5060")], len(CMP_BODY)))

# Header names in odd case, SP and HT before the colon, no space after it.
valid("mixed-case-names", msg([
    "OPTIONS sip:carol@example.org SIP/2.0",
    "VIA: SIP/2.0/UDP 192.0.2.44;branch=z9hG4bKmc01",
    "via :SIP/2.0/UDP 192.0.2.45:5080;branch=z9hG4bKmc02",
    "mAx-FoRwArDs: 69",
    "fRoM: <sip:dave@example.net>;tag=mc4x",
    "tO\t: <sip:carol@example.org>",
    "cALL-iD:mixedcase.0039@192.0.2.44",
    "cseq: 77 OPTIONS",
    "CoNtAcT: <sip:dave@192.0.2.44>",
    "CONTENT-length: 0",
]), request("OPTIONS", "sip:carol@example.org", "mixedcase.0039@192.0.2.44",
            CS(77, "OPTIONS"), A("sip:dave@example.net", "mc4x"),
            A("sip:carol@example.org"),
            [V("UDP", "192.0.2.44", None, "z9hG4bKmc01"),
             V("UDP", "192.0.2.45", 5080, "z9hG4bKmc02")],
            [C("sip:dave@192.0.2.44")], 0))

# Three Via values on one line, one with a quoted parameter containing a
# comma, IPv6 sent-by, and no space after a comma.
valid("via-multi-oneline", msg([
    "SIP/2.0 200 OK",
    "Via: SIP/2.0/UDP ss2.example.org:5060;branch=z9hG4bK2d4790.1;note=\"a, b\";received=192.0.2.2, "
    "SIP/2.0/TCP ss1.example.com:5070;branch=z9hG4bK721e418c4.1,SIP/2.0/TLS [2001:db8::10]:5061;branch=z9hG4bKnashds8",
    f"From: <{ALICE}>;tag=vm1",
    f"To: <{BOB}>;tag=vm2",
    "Call-ID: via-multi-oneline.1@192.0.2.2",
    "CSeq: 4 INVITE",
    "Contact: <sip:bob@192.0.2.20>",
    "Content-Length: 0",
]), response(200, "via-multi-oneline.1@192.0.2.2", CS(4, "INVITE"),
             A(ALICE, "vm1"), A(BOB, "vm2"),
             [V("UDP", "ss2.example.org", 5060, "z9hG4bK2d4790.1"),
              V("TCP", "ss1.example.com", 5070, "z9hG4bK721e418c4.1"),
              V("TLS", "[2001:db8::10]", 5061, "z9hG4bKnashds8")],
             [C("sip:bob@192.0.2.20")], 0))

# Via values spread over several lines, long and compact names, a folded
# value list.
valid("via-multi-lines", msg([
    "SIP/2.0 180 Ringing",
    "Via: SIP/2.0/UDP ss2.example.org;branch=z9hG4bKa1",
    "v: SIP/2.0/TCP ss1.example.com:5070;branch=z9hG4bKa2;received=192.0.2.5",
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKa3,",
    "  SIP/2.0/UDP 192.0.2.11;branch=z9hG4bKa4",
    f"From: <{ALICE}>;tag=vl1",
    f"To: <{BOB}>;tag=vl2",
    "Call-ID: via-multi-lines.1@192.0.2.10",
    "CSeq: 1 INVITE",
    "Content-Length: 0",
]), response(180, "via-multi-lines.1@192.0.2.10", CS(1, "INVITE"),
             A(ALICE, "vl1"), A(BOB, "vl2"),
             [V("UDP", "ss2.example.org", None, "z9hG4bKa1"),
              V("TCP", "ss1.example.com", 5070, "z9hG4bKa2"),
              V("UDP", "192.0.2.10", 5060, "z9hG4bKa3"),
              V("UDP", "192.0.2.11", None, "z9hG4bKa4")], None, 0))

# Line folding (CRLF followed by SP or HT) in many headers.
valid("folding", msg([
    f"INVITE {BOB} SIP/2.0",
    "Via: SIP/2.0/UDP 192.0.2.10:5060",
    " ;branch=z9hG4bKfold1",
    "Max-Forwards:",
    "\t70",
    "From: Alice",
    " <sip:alice@example.com>",
    "\t;tag=fold7",
    "To:",
    f"   <{BOB}>",
    "Call-ID:",
    "  fold.88234@192.0.2.10",
    "CSeq: 4711",
    "\tINVITE",
    "Subject: This subject line",
    " is folded across",
    "\tthree lines",
    "Contact: <sip:alice@192.0.2.10>",
    " ;expires=300",
    "Content-Type: application/sdp",
    "Content-Length:",
    " @CL@",
], SDP_A), request("INVITE", BOB, "fold.88234@192.0.2.10", CS(4711, "INVITE"),
                   A(ALICE, "fold7"), A(BOB),
                   [V("UDP", "192.0.2.10", 5060, "z9hG4bKfold1")],
                   [C("sip:alice@192.0.2.10", 300)], len(SDP_A)))


# ============================================================================
# Boundary values
# ============================================================================

def opt(name, extra, cseq="1 OPTIONS", contact=None):
    lines = [
        "OPTIONS sip:uma@example.com SIP/2.0",
        f"Via: SIP/2.0/UDP 192.0.2.77;branch=z9hG4bK{name.replace('-', '')}",
        f"From: <sip:vic@example.net>;tag={name}-f",
        "To: <sip:uma@example.com>",
        f"Call-ID: {name}.1@192.0.2.77",
        f"CSeq: {cseq}",
        *extra,
        "Content-Length: 0",
    ]
    return msg(lines)


def opt_expect(name, seq, contact=None):
    return request("OPTIONS", "sip:uma@example.com", f"{name}.1@192.0.2.77",
                   CS(seq, "OPTIONS"), A("sip:vic@example.net", f"{name}-f"),
                   A("sip:uma@example.com"),
                   [V("UDP", "192.0.2.77", None, f"z9hG4bK{name.replace('-', '')}")],
                   contact, 0)


valid("limits-max", opt("limits-max", [
    "Max-Forwards: 255",
    "Expires: 4294967295",
    "Contact: <sip:vic@192.0.2.77>;expires=4294967295;q=1",
    "Contact: <sip:vic@192.0.2.78>;q=0.001;expires=0",
], cseq="2147483647 OPTIONS"), opt_expect(
    "limits-max", 2147483647,
    [C("sip:vic@192.0.2.77", 4294967295), C("sip:vic@192.0.2.78", 0)]))

invalid("cseq-overflow", opt("cseq-overflow", ["Max-Forwards: 70"],
                             cseq="2147483648 OPTIONS"),
        bad("Bad CSeq Header"))

invalid("expires-overflow", opt("expires-overflow",
                                ["Max-Forwards: 70", "Expires: 4294967296"]),
        bad("Bad Expires Header"))

invalid("contact-expires-overflow", opt("contact-expires-overflow", [
    "Max-Forwards: 70",
    "Contact: <sip:vic@192.0.2.77>;expires=4294967296"]),
    bad("Bad Contact Header"))

invalid("maxfwd-256", opt("maxfwd-256", ["Max-Forwards: 256"]),
        bad("Bad Max-Forwards Header"))

invalid("contact-bad-q", opt("contact-bad-q", [
    "Max-Forwards: 70",
    "Contact: <sip:vic@192.0.2.77>;q=1.5"]), bad("Bad Contact Header"))

invalid("contact-addrspec-semicolon-user", opt("contact-addrspec-semicolon-user", [
    "Max-Forwards: 70",
    "Contact: sip:vic;ext=12@192.0.2.77"]), bad("Bad Contact Header"))

invalid("contact-space-in-brackets", opt("contact-space-in-brackets", [
    "Max-Forwards: 70",
    "Contact: < sip:vic@192.0.2.77 >"]), bad("Bad Contact Header"))

invalid("cseq-no-method", opt("cseq-no-method", ["Max-Forwards: 70"],
                              cseq="12"), bad("Bad CSeq Header"))

invalid("callid-with-space", opt("callid-with-space", [
    "Max-Forwards: 70"]).replace(b"Call-ID: callid-with-space.1@192.0.2.77",
                                 b"Call-ID: callid with space@192.0.2.77"),
    bad("Bad Call-ID Header"))

invalid("cl-overflow", msg([
    "OPTIONS sip:uma@example.com SIP/2.0",
    "Via: SIP/2.0/UDP 192.0.2.77;branch=z9hG4bKclov",
    "From: <sip:vic@example.net>;tag=clov-f",
    "To: <sip:uma@example.com>",
    "Call-ID: cl-overflow.1@192.0.2.77",
    "CSeq: 1 OPTIONS",
    "Content-Length: 184467440737095516160",
]), bad("Bad Content-Length Header"))


# ============================================================================
# Structural errors
# ============================================================================

# No empty line after the headers at all.
invalid("incomplete-no-blank-line",
        opt("incomplete-no-blank-line", ["Max-Forwards: 70"])[:-2],
        bad("Incomplete Message"))

invalid("method-bad-char", opt("method-bad-char", ["Max-Forwards: 70"]).replace(
    b"OPTIONS sip:uma@example.com SIP/2.0", b"OPT(IONS sip:uma@example.com SIP/2.0"),
    bad("Malformed Method"))

invalid("version-malformed", opt("version-malformed", ["Max-Forwards: 70"]).replace(
    b"OPTIONS sip:uma@example.com SIP/2.0", b"OPTIONS sip:uma@example.com SIP/2"),
    bad("Malformed SIP Version"))

invalid("header-no-colon", opt("header-no-colon", [
    "Max-Forwards: 70", "This header line has no colon at all"]),
    bad("Malformed Header Line"))

invalid("header-name-space", opt("header-name-space", [
    "Max-Forwards: 70", "Subject Line: names cannot contain spaces"]),
    bad("Malformed Header Line"))

invalid("missing-via", msg([
    "OPTIONS sip:uma@example.com SIP/2.0",
    "From: <sip:vic@example.net>;tag=mv-f",
    "To: <sip:uma@example.com>",
    "Call-ID: missing-via.1@192.0.2.77",
    "CSeq: 1 OPTIONS",
    "Max-Forwards: 70",
    "Content-Length: 0",
]), bad("Missing Via Header"))

invalid("missing-cseq", msg([
    "SIP/2.0 200 OK",
    "Via: SIP/2.0/UDP 192.0.2.77;branch=z9hG4bKmcs1",
    "From: <sip:vic@example.net>;tag=mc-f",
    "To: <sip:uma@example.com>;tag=mc-t",
    "Call-ID: missing-cseq.1@192.0.2.77",
    "Content-Length: 0",
]), bad("Missing CSeq Header"))

invalid("dup-from-compact-long", opt("dup-from-compact-long", [
    "Max-Forwards: 70", "f: <sip:vic@example.net>;tag=second"]),
    bad("Duplicate From Header"))

invalid("dup-callid-compact-long", opt("dup-callid-compact-long", [
    "Max-Forwards: 70", "i: dup-callid-compact-long.1@192.0.2.77"]),
    bad("Duplicate Call-ID Header"))

invalid("dup-expires", opt("dup-expires", [
    "Max-Forwards: 70", "Expires: 60", "Expires: 60"]),
    bad("Duplicate Expires Header"))

invalid("dup-content-type", msg([
    "MESSAGE sip:uma@example.com SIP/2.0",
    "Via: SIP/2.0/UDP 192.0.2.77;branch=z9hG4bKdct1",
    "From: <sip:vic@example.net>;tag=dct-f",
    "To: <sip:uma@example.com>",
    "Call-ID: dup-content-type.1@192.0.2.77",
    "CSeq: 1 MESSAGE",
    "Max-Forwards: 70",
    "Content-Type: text/plain",
    "c: text/html",
    "Content-Length: @CL@",
], b"hello\r\n"), bad("Duplicate Content-Type Header"))

invalid("status-code-700", msg([
    "SIP/2.0 700 Beyond Global Failure",
    "Via: SIP/2.0/UDP 192.0.2.77;branch=z9hG4bKs700",
    "From: <sip:vic@example.net>;tag=s7-f",
    "To: <sip:uma@example.com>;tag=s7-t",
    "Call-ID: status-code-700.1@192.0.2.77",
    "CSeq: 1 OPTIONS",
    "Content-Length: 0",
]), bad("Malformed Status Code"))

invalid("status-code-2digits", msg([
    "SIP/2.0 20 OK",
    "Via: SIP/2.0/UDP 192.0.2.77;branch=z9hG4bKs20",
    "From: <sip:vic@example.net>;tag=s2-f",
    "To: <sip:uma@example.com>;tag=s2-t",
    "Call-ID: status-code-2digits.1@192.0.2.77",
    "CSeq: 1 OPTIONS",
    "Content-Length: 0",
]), bad("Malformed Status Code"))

invalid("via-no-host", opt("via-no-host", ["Max-Forwards: 70"]).replace(
    b"Via: SIP/2.0/UDP 192.0.2.77;branch=z9hG4bKvianohost",
    b"Via: SIP/2.0/UDP ;branch=z9hG4bKvianohost"), bad("Bad Via Header"))

# Far more header lines than any sane limit (2500 short extension headers,
# about 23 KB, still a single UDP datagram).
invalid("too-many-headers", opt("too-many-headers",
                                ["Max-Forwards: 70"] +
                                [f"X{i}: 1" for i in range(2500)]),
        bad("Too Many Headers"))


# ============================================================================
# writing and self-checks
# ============================================================================

def split_message(data):
    i = data.find(b"\r\n\r\n")
    if i < 0:
        return None, None
    return data[:i], data[i + 4:]


def declared_length(head):
    """Content-Length as a Python int (None if absent or unparsable)."""
    lines = head.split(b"\r\n")[1:]
    unfolded = []
    for l in lines:
        if l[:1] in (b" ", b"\t") and unfolded:
            unfolded[-1] += b" " + l.strip()
        else:
            unfolded.append(l)
    for l in unfolded:
        name, sep, value = l.partition(b":")
        if sep and name.strip().lower() in (b"content-length", b"l"):
            try:
                return int(value.strip())
            except ValueError:
                return None
    return None


COMPACT = {"i": "call-id", "m": "contact", "f": "from", "t": "to", "v": "via",
           "l": "content-length", "c": "content-type", "e": "content-encoding",
           "k": "supported", "s": "subject", "o": "event", "r": "refer-to",
           "b": "referred-by", "u": "allow-events", "x": "session-expires",
           "y": "identity", "n": "identity-info", "a": "accept-contact",
           "j": "reject-contact", "d": "request-disposition"}
SINGLE = {"call-id", "cseq", "from", "to", "max-forwards", "content-length",
          "content-type", "expires"}
REQUIRED = ["call-id", "cseq", "from", "to", "via"]


def header_names(head):
    names = []
    for l in head.split(b"\r\n")[1:]:
        if l[:1] in (b" ", b"\t"):
            continue
        name = l.partition(b":")[0].strip().lower().decode("latin-1")
        names.append(COMPACT.get(name, name))
    return names


def self_check():
    problems = []
    names = set()
    for folder, name, data, exp in CASES:
        if name in names:
            problems.append(f"{name}: duplicate case name")
        names.add(name)
        if b"@CL@" in data:
            problems.append(f"{name}: unreplaced @CL@")
        head, body = split_message(data)
        if folder == "valid":
            assert exp["valid"] is True, name
            if head is None:
                problems.append(f"{name}: no CRLFCRLF")
                continue
            cl = declared_length(head)
            if cl is None:
                problems.append(f"{name}: valid case without Content-Length")
            elif name == "dblreq":
                if cl != 0 or len(body) == 0:
                    problems.append(f"{name}: expected trailing octets")
            elif cl != len(body):
                problems.append(f"{name}: Content-Length {cl} != body {len(body)}")
            if exp.get("content_length") is not None and exp["content_length"] != cl:
                problems.append(f"{name}: expectation content_length mismatch")
            for l in head.split(b"\r\n"):
                if b"\n" in l or b"\r" in l:
                    problems.append(f"{name}: bare CR/LF in header")
            hn = header_names(head)
            for h in REQUIRED:
                if h not in hn:
                    problems.append(f"{name}: valid case missing {h}")
            for h in SINGLE:
                if hn.count(h) > 1:
                    problems.append(f"{name}: valid case repeats {h}")
            if ("contact" in hn) != bool(exp.get("contact")):
                problems.append(f"{name}: Contact header vs expectation")
        else:
            assert exp["valid"] is False, name
            assert ("error" in exp) != ("error_any" in exp), name
    return problems


def main():
    problems = self_check()
    for p in problems:
        print("CHECK:", p, file=sys.stderr)
    if problems:
        sys.exit(1)
    if "--check" in sys.argv:
        print(f"{len(CASES)} cases OK")
        return
    for folder in ("valid", "invalid"):
        d = os.path.join(HERE, folder)
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            if f.endswith(".sip") or f.endswith(".json"):
                os.remove(os.path.join(d, f))
    counts = {"valid": 0, "invalid": 0}
    for folder, name, data, exp in CASES:
        d = os.path.join(HERE, folder)
        with open(os.path.join(d, name + ".sip"), "wb") as fh:
            fh.write(data)
        with open(os.path.join(d, name + ".json"), "w", encoding="utf-8") as fh:
            json.dump(exp, fh, ensure_ascii=False, indent=2)
            fh.write("\n")
        counts[folder] += 1
    print(f"wrote {counts['valid']} valid and {counts['invalid']} invalid fixtures")


if __name__ == "__main__":
    main()

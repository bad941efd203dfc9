"""A small Exchange Web Services server on loopback, for tests: genuine EWS SOAP over HTTP.

No EWS server installs from Debian, so the Exchange backend is exercised through exchangelib's
whole client stack (requests, SOAP envelopes, response parsing) against this one. It holds a
tiny mailbox in memory and answers the operations the backend uses: GetFolder, FindFolder,
CreateFolder, SyncFolderItems, FindItem, GetItem, CreateItem, UpdateItem, Subscribe,
Unsubscribe, GetStreamingEvents, GetUserOofSettings and SetUserOofSettings. Documents follow the
EWS schema (``messages.xsd`` / ``types.xsd``) as Exchange 2019 writes them, including the ``&#xD;``
it puts in text so that CRLF survives XML parsing.

Mail that carries an iCalendar part comes back as Exchange classifies it, a
``MeetingRequest``, ``MeetingCancellation`` or ``MeetingResponse`` (by its METHOD), with the
MIME content as it was delivered. A message created from MIME and sent goes to the To and Cc
of that MIME.

Every request is recorded (:attr:`EwsServer.requests`, :meth:`EwsServer.calls`), so tests assert
on what the client sent: the SyncState it echoed back, the extended properties on a reply, the
categories it set, the attachments and Reply-To of a forward. Basic authentication is checked on
every request (a wrong password is 401). With ``certificate=(cert_file, key_file)`` it serves
HTTPS (the url says ``https://``), for tests of certificate verification.

What it simplifies, on purpose: one sync state is a (generation, position) pair in the folder's
change log, so an old state replays the same changes, as Exchange's does; bumping the
generation (:meth:`EwsServer.invalidate_sync_states`) makes every old state
``ErrorInvalidSyncStateData``. Restrictions on FindFolder/FindItem are ignored (the client
filters), and a streaming connection lasts ``stream_seconds`` rather than the minutes asked for
(a server may close it early; the client opens a new one).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import email
import email.policy
import email.utils
import itertools
import socket
import ssl
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape, quoteattr

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
NS = {"s": SOAP, "m": M, "t": T}

_HEADER = (
    '<s:Header><h:ServerVersionInfo MajorVersion="15" MinorVersion="2" MajorBuildNumber="1544" '
    'MinorBuildNumber="4" Version="V2017_07_11" xmlns:h="' + T + '" xmlns="' + T + '"/>'
    "</s:Header>"
)

# Field URIs the server knows how to return, in the order types.xsd puts them in an item.
_ITEM_FIELDS = [
    "item:MimeContent",
    "item:Subject",
    "item:DateTimeReceived",
    "item:Size",
    "item:Categories",
    "item:InReplyTo",
    "item:InternetMessageHeaders",
    "item:TextBody",
    "message:ToRecipients",
    "message:CcRecipients",
    "message:IsRead",
    "message:From",
    "message:Sender",
    "message:InternetMessageId",
    "message:References",
]


def text(value: str) -> str:
    """Escape for XML text, with CR as ``&#xD;`` as Exchange writes it (a bare CR would be
    turned into LF by the client's parser)."""
    return escape(value).replace("\r", "&#xD;")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Item:
    """One message in the fake mailbox."""

    id: str
    folder: str
    raw: bytes
    received_at: datetime
    is_read: bool = False
    categories: list[str] = field(default_factory=list)
    version: int = 0
    extended: dict[str, str] = field(default_factory=dict)
    """Extended properties set by CreateItem, by PropertyName (or tag), as strings."""
    fields: dict[str, Any] = field(default_factory=dict)
    """For items created from fields rather than MIME: subject, to, body..."""

    @property
    def change_key(self) -> str:
        return f"CQAAAB{self.version:06d}"

    def headers(self) -> list[tuple[str, str]]:
        head = self.raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        out: list[tuple[str, str]] = []
        for line in head.decode("utf-8", "replace").replace("\r\n", "\n").split("\n"):
            if line[:1] in (" ", "\t") and out:
                out[-1] = (out[-1][0], out[-1][1] + " " + line.strip())
            elif ":" in line:
                name, value = line.split(":", 1)
                out.append((name, value.strip()))
        return out

    @property
    def element(self) -> str:
        """The item's element, as Exchange classifies what it stored: mail that carries an
        iCalendar part is a meeting message (IPM.Schedule.Meeting.*), returned as
        ``MeetingRequest``, ``MeetingCancellation`` or ``MeetingResponse``; the rest is
        ``Message``."""
        if self.fields:
            return "Message"
        method = _calendar_method(self.raw)
        return _MEETING_ELEMENTS.get(method, "Message") if method else "Message"

    def header(self, name: str) -> str | None:
        for key, value in self.headers():
            if key.lower() == name.lower():
                return value
        return None

    def text_body(self) -> str:
        if "body" in self.fields:
            return str(self.fields["body"])
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        if not parsed.is_multipart() and not parsed["Content-Transfer-Encoding"]:
            for sep in (b"\r\n\r\n", b"\n\n"):
                if sep in self.raw:
                    return self.raw.split(sep, 1)[1].decode("utf-8", "replace")
            return ""
        part = parsed.get_body(preferencelist=("plain",))
        return str(part.get_content()) if part is not None else ""


@dataclass
class Folder:
    id: str
    name: str
    parent: str | None
    distinguished: str | None = None
    generation: int = 1
    log: list[tuple[int, str, str]] = field(default_factory=list)
    """The change log: (sequence, "create" | "update" | "delete", item id)."""


@dataclass
class Subscription:
    id: str
    folders: set[str]
    events: list[tuple[str, str, str]] = field(default_factory=list)
    """Queued (event type, item id, folder id)."""


@dataclass
class Request:
    """One request as received: the operation, the raw body and its parsed SOAP body."""

    operation: str
    body: bytes
    element: ET.Element

    def find(self, path: str) -> ET.Element | None:
        return self.element.find(path, NS)

    def findall(self, path: str) -> list[ET.Element]:
        return self.element.findall(path, NS)


class EwsError(Exception):
    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.message = message or code


class EwsServer:
    """The fake server: start(), then point exchangelib at :attr:`url`; stop() when done."""

    def __init__(
        self,
        username: str = "bob",
        password: str = "secret",  # noqa: S107 - a throwaway test account
        address: str = "bob@example.test",
        *,
        stream_seconds: float = 2.0,
        certificate: tuple[str, str] | None = None,
    ) -> None:
        self.username = username
        self.password = password
        self.address = address
        self.stream_seconds = stream_seconds
        self.requests: list[Request] = []
        self.streaming_enabled = True
        self.refused_recipients: set[str] = set()
        """Addresses CreateItem refuses (ErrorInvalidRecipients) in a message to be sent, as
        Exchange does for a recipient it cannot resolve: that message is neither sent nor
        saved."""
        self._stopped_stream_seconds: float | None = None
        self.oof: dict[str, str] = {
            "state": "Disabled",
            "external_audience": "All",
            "start": "2026-01-01T00:00:00",
            "end": "2026-01-02T00:00:00",
            "internal_reply": "I am away.",
            "external_reply": "I am away.",
        }
        """The automatic-reply (OOF) settings: times as Exchange keeps them (UTC, written
        without a zone), replies as the HTML or text they were set to."""
        self._lock = threading.Condition()
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self.folders: dict[str, Folder] = {}
        self.items: dict[str, Item] = {}
        self.subscriptions: dict[str, Subscription] = {}
        root = self._add_folder("Root", None, "root")
        top = self._add_folder("Top of Information Store", root.id, "msgfolderroot")
        for name, dist in (("Inbox", "inbox"), ("Sent Items", "sentitems"), ("Drafts", "drafts")):
            self._add_folder(name, top.id, dist)
        self._tls: ssl.SSLContext | None = None
        if certificate is not None:
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(*certificate)
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, port: int = 0) -> EwsServer:
        """Serve on ``port`` (0: a free one). ``start(old_port)`` after stop() is the same
        server back from an outage: same mailbox, same url."""
        if self._stopped_stream_seconds is not None:
            self.stream_seconds, self._stopped_stream_seconds = self._stopped_stream_seconds, None
        handler = type("Handler", (_Handler,), {"ews": self})
        self._httpd = _Server(("127.0.0.1", port), handler)
        self._httpd.tls = self._tls
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut every open connection (streams end at once)."""
        if self._httpd is not None:
            with self._lock:
                self._stopped_stream_seconds = self.stream_seconds
                self.stream_seconds = 0
                self._lock.notify_all()
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd.drop_connections()
            self._httpd = None

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}/EWS/Exchange.asmx"

    # -- test API ------------------------------------------------------------------------

    def folder(self, name: str) -> Folder:
        """A folder by distinguished id ("inbox") or display name."""
        with self._lock:
            for f in self.folders.values():
                if name in (f.distinguished, f.name):
                    return f
        raise KeyError(name)

    def deliver(
        self, raw: bytes, received_at: datetime | None = None, folder: str = "inbox"
    ) -> str:
        """Put a message into a folder as transport delivery does; returns its item id."""
        with self._lock:
            target = self.folder(folder)
            item = self._add_item(target, raw, received_at or datetime.now(UTC))
            self._notify(target, item, new_mail=True)
            return item.id

    def contents(self, folder: str) -> list[Item]:
        """The items of a folder, oldest first (live objects)."""
        with self._lock:
            target = self.folder(folder)
            return sorted(
                (i for i in self.items.values() if i.folder == target.id),
                key=lambda i: (i.received_at, i.id),
            )

    def invalidate_sync_states(self, folder: str = "inbox") -> None:
        """Make every sync state issued so far for the folder invalid."""
        with self._lock:
            self.folder(folder).generation += 1

    def calls(self, operation: str) -> list[Request]:
        """The requests received for one operation, oldest first."""
        with self._lock:
            return [r for r in self.requests if r.operation == operation]

    # -- store internals (called with the lock held) -------------------------------------

    def _new_id(self, prefix: str) -> str:
        raw = f"{prefix}:{next(self._ids)}:{uuid.uuid4().hex}".encode()
        return "AAMk" + base64.b64encode(raw).decode()

    def _add_folder(
        self, name: str, parent: str | None, distinguished: str | None = None
    ) -> Folder:
        f = Folder(self._new_id("folder"), name, parent, distinguished)
        self.folders[f.id] = f
        return f

    def _add_item(self, target: Folder, raw: bytes, received_at: datetime, **kw: Any) -> Item:
        item = Item(self._new_id("item"), target.id, raw, received_at, **kw)
        self.items[item.id] = item
        target.log.append((next(self._seq), "create", item.id))
        return item

    def _notify(self, target: Folder, item: Item, *, new_mail: bool) -> None:
        for sub in self.subscriptions.values():
            if target.id in sub.folders:
                if new_mail:
                    sub.events.append(("NewMailEvent", item.id, target.id))
                sub.events.append(("CreatedEvent", item.id, target.id))
        self._lock.notify_all()

    def _modified(self, item: Item) -> None:
        item.version += 1
        target = self.folders[item.folder]
        target.log.append((next(self._seq), "update", item.id))
        for sub in self.subscriptions.values():
            if target.id in sub.folders:
                sub.events.append(("ModifiedEvent", item.id, target.id))
        self._lock.notify_all()

    def _resolve_folder(self, elem: ET.Element | None) -> Folder:
        if elem is None:
            raise EwsError("ErrorInvalidRequest", "no folder id")
        for child in elem:
            if child.tag == f"{{{T}}}DistinguishedFolderId":
                dist = child.get("Id")
                for f in self.folders.values():
                    if f.distinguished == dist:
                        return f
            elif child.tag == f"{{{T}}}FolderId" and child.get("Id") in self.folders:
                return self.folders[child.get("Id", "")]
        raise EwsError(
            "ErrorFolderNotFound", "The specified folder could not be found in the store."
        )

    def _item(self, elem: ET.Element) -> Item:
        item = self.items.get(elem.get("Id", ""))
        if item is None:
            raise EwsError("ErrorItemNotFound", "The specified object was not found in the store.")
        return item

    # -- operations ----------------------------------------------------------------------

    def handle(self, req: Request) -> str:
        op = getattr(self, f"op_{req.operation}", None)
        if op is None:
            return _single(req.operation, _error("ErrorInvalidRequest", "not implemented"))
        with self._lock:
            return str(op(req))

    def op_GetFolder(self, req: Request) -> str:
        ids = req.find("m:GetFolder/m:FolderIds")
        parts = []
        for child in list(ids) if ids is not None else []:
            holder = ET.Element("x")
            holder.append(child)
            try:
                parts.append(
                    _success(
                        "<m:Folders>"
                        + self._folder_xml(self._resolve_folder(holder))
                        + "</m:Folders>"
                    )
                )
            except EwsError as exc:
                parts.append(_error(exc.code, exc.message))
        return _envelope("GetFolder", parts)

    def _folder_xml(self, f: Folder) -> str:
        count = sum(1 for i in self.items.values() if i.folder == f.id)
        unread = sum(1 for i in self.items.values() if i.folder == f.id and not i.is_read)
        children = sum(1 for c in self.folders.values() if c.parent == f.id)
        parent = f'<t:ParentFolderId Id="{f.parent}" ChangeKey="AQAAAA=="/>' if f.parent else ""
        klass = "" if f.distinguished == "root" else "<t:FolderClass>IPF.Note</t:FolderClass>"
        return (
            f'<t:Folder><t:FolderId Id="{f.id}" ChangeKey="AQAAAA=="/>{parent}{klass}'
            f"<t:DisplayName>{text(f.name)}</t:DisplayName><t:TotalCount>{count}</t:TotalCount>"
            f"<t:ChildFolderCount>{children}</t:ChildFolderCount>"
            f"<t:UnreadCount>{unread}</t:UnreadCount></t:Folder>"
        )

    def op_FindFolder(self, req: Request) -> str:
        parent = self._resolve_folder(req.find("m:FindFolder/m:ParentFolderIds"))
        found = [f for f in self.folders.values() if f.parent == parent.id]
        body = (
            f'<m:RootFolder IndexedPagingOffset="{len(found)}" TotalItemsInView="{len(found)}" '
            'IncludesLastItemInRange="true"><t:Folders>'
            + "".join(self._folder_xml(f) for f in found)
            + "</t:Folders></m:RootFolder>"
        )
        return _envelope("FindFolder", [_success(body)])

    def op_CreateFolder(self, req: Request) -> str:
        parent = self._resolve_folder(req.find("m:CreateFolder/m:ParentFolderId"))
        parts = []
        for elem in req.findall("m:CreateFolder/m:Folders/*"):
            name = elem.findtext("t:DisplayName", "", NS)
            if any(f.parent == parent.id and f.name == name for f in self.folders.values()):
                parts.append(
                    _error("ErrorFolderExists", "A folder with the specified name already exists.")
                )
                continue
            f = self._add_folder(name, parent.id)
            parts.append(
                _success(
                    f'<m:Folders><t:Folder><t:FolderId Id="{f.id}" ChangeKey="AQAAAA=="/>'
                    "</t:Folder></m:Folders>"
                )
            )
        return _envelope("CreateFolder", parts)

    def op_SyncFolderItems(self, req: Request) -> str:
        try:
            target = self._resolve_folder(req.find("m:SyncFolderItems/m:SyncFolderId"))
            state = req.element.findtext("m:SyncFolderItems/m:SyncState", None, NS)
            since = self._parse_state(target, state)
        except EwsError as exc:
            # Exchange answers an error here with an empty SyncState and IncludesLastItemInRange
            # (exchangelib reads both before it looks at the response code).
            part = _error(exc.code, exc.message)
            part += "<m:SyncState/><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>"
            return _envelope("SyncFolderItems", [part])
        limit = int(req.element.findtext("m:SyncFolderItems/m:MaxChangesReturned", "100", NS))
        wanted = _requested_fields(req.find("m:SyncFolderItems/m:ItemShape"))
        changes: list[tuple[int, str, str]] = []
        position = since
        pending = [entry for entry in target.log if entry[0] > since]
        for seq, kind, item_id in pending:
            if len(changes) >= limit:
                break
            position = seq
            item = self.items.get(item_id)
            created_here = any(
                s > since and k == "create" and i == item_id for s, k, i in target.log
            )
            if kind == "create" and (item is None or item.folder != target.id):
                continue  # created and deleted since: nothing to tell
            if kind == "update" and (created_here or item is None):
                continue  # folded into its create, or gone
            changes.append((seq, kind, item_id))
        last = not any(seq > position for seq, _, _ in target.log)
        xml = []
        for _, kind, item_id in changes:
            tag = {"create": "Create", "update": "Update", "delete": "Delete"}[kind]
            if kind == "delete":
                xml.append(f'<t:Delete><t:ItemId Id="{item_id}"/></t:Delete>')
            else:
                xml.append(f"<t:{tag}>{self._item_xml(self.items[item_id], wanted)}</t:{tag}>")
        new_state = self._make_state(target, position)
        body = (
            f"<m:SyncState>{new_state}</m:SyncState>"
            f"<m:IncludesLastItemInRange>{'true' if last else 'false'}</m:IncludesLastItemInRange>"
            f"<m:Changes>{''.join(xml)}</m:Changes>"
        )
        return _envelope("SyncFolderItems", [_success(body)])

    def _make_state(self, target: Folder, position: int) -> str:
        return base64.b64encode(f"{target.id}|{target.generation}|{position}".encode()).decode()

    def _parse_state(self, target: Folder, state: str | None) -> int:
        if not state:
            return 0
        try:
            folder_id, generation, position = (
                base64.b64decode(state, validate=True).decode().split("|")
            )
            if folder_id == target.id and int(generation) == target.generation:
                return int(position)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            pass
        raise EwsError(
            "ErrorInvalidSyncStateData",
            "Synchronization state data is corrupt or otherwise invalid.",
        )

    def op_FindItem(self, req: Request) -> str:
        target = self._resolve_folder(req.find("m:FindItem/m:ParentFolderIds"))
        view = req.find("m:FindItem/m:IndexedPageItemView")
        offset = int(view.get("Offset", "0")) if view is not None else 0
        limit = int(view.get("MaxEntriesReturned", "1000")) if view is not None else 1000
        wanted = _requested_fields(req.find("m:FindItem/m:ItemShape"))
        wanted.discard("item:TextBody")
        items = sorted(
            (i for i in self.items.values() if i.folder == target.id),
            key=lambda i: i.received_at,
            reverse=True,
        )
        page = items[offset : offset + limit]
        last = offset + len(page) >= len(items)
        body = (
            f'<m:RootFolder IndexedPagingOffset="{offset + len(page)}" '
            f'TotalItemsInView="{len(items)}" IncludesLastItemInRange="{str(last).lower()}">'
            "<t:Items>"
            + "".join(self._item_xml(i, wanted) for i in page)
            + "</t:Items></m:RootFolder>"
        )
        return _envelope("FindItem", [_success(body)])

    def op_GetItem(self, req: Request) -> str:
        wanted = _requested_fields(req.find("m:GetItem/m:ItemShape"))
        parts = []
        for elem in req.findall("m:GetItem/m:ItemIds/t:ItemId"):
            try:
                item = self._item(elem)
            except EwsError as exc:
                parts.append(_error(exc.code, exc.message))
                continue
            parts.append(_success(f"<m:Items>{self._item_xml(item, wanted)}</m:Items>"))
        return _envelope("GetItem", parts)

    def _item_xml(self, item: Item, wanted: set[str]) -> str:
        out = [f'<t:ItemId Id="{item.id}" ChangeKey="{item.change_key}"/>']
        for uri in _ITEM_FIELDS:
            if uri in wanted:
                out.append(self._field_xml(item, uri))
        tag = item.element
        return f"<t:{tag}>" + "".join(out) + f"</t:{tag}>"

    def _field_xml(self, item: Item, uri: str) -> str:
        h = item.header
        if uri == "item:MimeContent":
            mime = base64.b64encode(item.raw).decode()
            return f'<t:MimeContent CharacterSet="UTF-8">{mime}</t:MimeContent>'
        if uri == "item:Subject":
            value = item.fields.get("subject", h("Subject"))
            return f"<t:Subject>{text(value)}</t:Subject>" if value is not None else ""
        if uri == "item:DateTimeReceived":
            return f"<t:DateTimeReceived>{iso(item.received_at)}</t:DateTimeReceived>"
        if uri == "item:Size":
            return f"<t:Size>{len(item.raw)}</t:Size>"
        if uri == "item:Categories":
            if not item.categories:
                return ""
            cats = "".join(f"<t:String>{text(c)}</t:String>" for c in item.categories)
            return f"<t:Categories>{cats}</t:Categories>"
        if uri == "item:InReplyTo":
            value = h("In-Reply-To")
            return f"<t:InReplyTo>{text(value)}</t:InReplyTo>" if value else ""
        if uri == "item:InternetMessageHeaders":
            if not item.raw:
                return ""
            heads = "".join(
                f"<t:InternetMessageHeader HeaderName={quoteattr(name)}>{text(value)}"
                "</t:InternetMessageHeader>"
                for name, value in item.headers()
            )
            return f"<t:InternetMessageHeaders>{heads}</t:InternetMessageHeaders>"
        if uri == "item:TextBody":
            return f'<t:TextBody BodyType="Text">{text(item.text_body())}</t:TextBody>'
        if uri in ("message:ToRecipients", "message:CcRecipients"):
            name = "To" if uri.endswith("ToRecipients") else "Cc"
            found = email.utils.getaddresses([h(name) or ""])
            boxes = "".join(_mailbox(n, a) for n, a in found if a)
            tag = uri.split(":")[1]
            return f"<t:{tag}>{boxes}</t:{tag}>" if boxes else ""
        if uri == "message:IsRead":
            return f"<t:IsRead>{'true' if item.is_read else 'false'}</t:IsRead>"
        if uri in ("message:From", "message:Sender"):
            found = email.utils.getaddresses([h("From") or ""])
            tag = uri.split(":")[1]
            return f"<t:{tag}>{_mailbox(*found[0])}</t:{tag}>" if found and found[0][1] else ""
        if uri == "message:InternetMessageId":
            value = h("Message-ID")
            return f"<t:InternetMessageId>{text(value)}</t:InternetMessageId>" if value else ""
        if uri == "message:References":
            value = h("References")
            return f"<t:References>{text(value)}</t:References>" if value else ""
        return ""

    def op_CreateItem(self, req: Request) -> str:
        create = req.find("m:CreateItem")
        assert create is not None
        disposition = create.get("MessageDisposition", "SaveOnly")
        saved = req.find("m:CreateItem/m:SavedItemFolderId")
        try:
            if saved is not None:
                target = self._resolve_folder(saved)
            elif disposition == "SaveOnly":
                target = self.folder("drafts")
            else:
                target = self.folder("sentitems")
        except EwsError as exc:
            return _envelope("CreateItem", [_error(exc.code, exc.message)])
        parts = []
        for elem in req.findall("m:CreateItem/m:Items/t:Message"):
            recipients = {
                a.text
                for kind in ("To", "Cc", "Bcc")
                for a in elem.findall(f"t:{kind}Recipients/t:Mailbox/t:EmailAddress", NS)
            } | _mime_recipients(elem.findtext("t:MimeContent", None, NS))
            if disposition != "SaveOnly" and recipients & self.refused_recipients:
                parts.append(
                    _error("ErrorInvalidRecipients", "One or more recipients are invalid.")
                )
                continue
            item = self._create_from_xml(elem, target)
            if disposition == "SaveOnly":
                parts.append(
                    _success(
                        f'<m:Items><t:Message><t:ItemId Id="{item.id}" '
                        f'ChangeKey="{item.change_key}"/></t:Message></m:Items>'
                    )
                )
            else:
                if disposition == "SendOnly":
                    del self.items[item.id]
                parts.append(_success("<m:Items/>"))
        return _envelope("CreateItem", parts)

    def _create_from_xml(self, elem: ET.Element, target: Folder) -> Item:
        mime = elem.findtext("t:MimeContent", None, NS)
        raw = base64.b64decode(mime) if mime else b""
        extended: dict[str, str] = {}
        for prop in elem.findall("t:ExtendedProperty", NS):
            uri = prop.find("t:ExtendedFieldURI", NS)
            assert uri is not None
            key = uri.get("PropertyName") or uri.get("PropertyTag") or "?"
            extended[key] = prop.findtext("t:Value", "", NS)
        fields: dict[str, Any] = {}
        if not mime:
            fields = {
                "subject": elem.findtext("t:Subject", "", NS),
                "body": elem.findtext("t:Body", "", NS),
                "to": [a.text for a in elem.findall("t:ToRecipients/t:Mailbox/t:EmailAddress", NS)],
                "cc": [a.text for a in elem.findall("t:CcRecipients/t:Mailbox/t:EmailAddress", NS)],
                "in_reply_to": elem.findtext("t:InReplyTo", None, NS),
                "references": elem.findtext("t:References", None, NS),
                "message_id": elem.findtext("t:InternetMessageId", None, NS),
                "reply_to": [
                    a.text for a in elem.findall("t:ReplyTo/t:Mailbox/t:EmailAddress", NS)
                ],
                "attachments": [
                    (
                        att.findtext("t:Name", "", NS),
                        att.findtext("t:ContentType", "", NS),
                        base64.b64decode(att.findtext("t:Content", "", NS)),
                    )
                    for att in elem.findall("t:Attachments/t:FileAttachment", NS)
                ],
            }
        is_read = elem.findtext("t:IsRead", "false", NS) in ("true", "1")
        cats = [c.text or "" for c in elem.findall("t:Categories/t:String", NS)]
        item = self._add_item(
            target,
            raw,
            datetime.now(UTC),
            is_read=is_read,
            categories=cats,
            extended=extended,
            fields=fields,
        )
        self._notify(target, item, new_mail=False)
        return item

    def op_UpdateItem(self, req: Request) -> str:
        parts = []
        for change in req.findall("m:UpdateItem/m:ItemChanges/t:ItemChange"):
            id_elem = change.find("t:ItemId", NS)
            try:
                if id_elem is None:
                    raise EwsError("ErrorInvalidRequest", "no item id")
                item = self._item(id_elem)
            except EwsError as exc:
                parts.append(_error(exc.code, exc.message))
                continue
            for update in change.findall("t:Updates/*", NS):
                uri = update.find("t:FieldURI", NS)
                name = uri.get("FieldURI") if uri is not None else None
                if name == "item:Categories":
                    if update.tag == f"{{{T}}}DeleteItemField":
                        item.categories = []
                    else:
                        item.categories = [
                            c.text or ""
                            for c in update.findall("t:Message/t:Categories/t:String", NS)
                        ]
                elif name == "message:IsRead":
                    item.is_read = update.findtext("t:Message/t:IsRead", "false", NS) in (
                        "true",
                        "1",
                    )
            self._modified(item)
            parts.append(
                _success(
                    f'<m:Items><t:Message><t:ItemId Id="{item.id}" ChangeKey="{item.change_key}"/>'
                    "</t:Message></m:Items><m:ConflictResults><t:Count>0</t:Count></m:ConflictResults>"
                )
            )
        return _envelope("UpdateItem", parts)

    def op_Subscribe(self, req: Request) -> str:
        if not self.streaming_enabled:
            return _envelope(
                "Subscribe", [_error("ErrorInvalidSubscriptionRequest", "streaming is off")]
            )
        request = req.find("m:Subscribe/m:StreamingSubscriptionRequest")
        if request is None:
            return _envelope(
                "Subscribe", [_error("ErrorInvalidSubscriptionRequest", "streaming only")]
            )
        try:
            target = self._resolve_folder(request.find("t:FolderIds", NS))
        except EwsError as exc:
            return _envelope("Subscribe", [_error(exc.code, exc.message)])
        sub = Subscription(self._new_id("sub"), {target.id})
        self.subscriptions[sub.id] = sub
        return _envelope("Subscribe", [_success(f"<m:SubscriptionId>{sub.id}</m:SubscriptionId>")])

    def op_Unsubscribe(self, req: Request) -> str:
        sub_id = req.element.findtext("m:Unsubscribe/m:SubscriptionId", "", NS)
        self.subscriptions.pop(sub_id, None)
        return _envelope("Unsubscribe", [_success("")])

    def op_GetUserOofSettings(self, req: Request) -> str:
        oof = self.oof
        return _soap(
            f'<GetUserOofSettingsResponse xmlns="{M}"><ResponseMessage ResponseClass="Success">'
            "<ResponseCode>NoError</ResponseCode></ResponseMessage>"
            f'<OofSettings xmlns="{T}"><OofState>{oof["state"]}</OofState>'
            f"<ExternalAudience>{oof['external_audience']}</ExternalAudience>"
            f"<Duration><StartTime>{oof['start']}</StartTime>"
            f"<EndTime>{oof['end']}</EndTime></Duration>"
            f"<InternalReply><Message>{text(oof['internal_reply'])}</Message></InternalReply>"
            f"<ExternalReply><Message>{text(oof['external_reply'])}</Message></ExternalReply>"
            "</OofSettings>"
            "<AllowExternalOof>All</AllowExternalOof></GetUserOofSettingsResponse>"
        )

    def op_SetUserOofSettings(self, req: Request) -> str:
        settings = req.find("m:SetUserOofSettingsRequest/t:UserOofSettings")
        if settings is not None:
            self.oof["state"] = settings.findtext("t:OofState", "Disabled", NS)
            self.oof["external_audience"] = settings.findtext("t:ExternalAudience", "All", NS)
            for key, tag in (("start", "t:Duration/t:StartTime"), ("end", "t:Duration/t:EndTime")):
                value = settings.findtext(tag, None, NS)
                if value:
                    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
                    # Exchange keeps and reports OOF times in UTC, without a zone designator.
                    self.oof[key] = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
            for key, tag in (
                ("internal_reply", "t:InternalReply"),
                ("external_reply", "t:ExternalReply"),
            ):
                value = settings.findtext(f"{tag}/t:Message", None, NS)
                if value is not None:
                    self.oof[key] = value
        return _soap(
            f'<SetUserOofSettingsResponse xmlns="{M}"><ResponseMessage ResponseClass="Success">'
            "<ResponseCode>NoError</ResponseCode></ResponseMessage></SetUserOofSettingsResponse>"
        )

    # -- streaming -----------------------------------------------------------------------

    def stream(self, req: Request) -> Iterator[str]:
        """The documents of one GetStreamingEvents response, as they become due."""
        ids = [
            e.text or ""
            for e in req.findall("m:GetStreamingEvents/m:SubscriptionIds/t:SubscriptionId")
        ]
        deadline = time.monotonic() + self.stream_seconds
        with self._lock:
            subs = [self.subscriptions.get(i) for i in ids]
            if any(s is None for s in subs):
                yield _envelope(
                    "GetStreamingEvents",
                    [
                        _error(
                            "ErrorSubscriptionNotFound", "The specified subscription was not found."
                        )
                    ],
                )
                return
        while True:
            with self._lock:
                self._lock.wait_for(
                    lambda: any(s.events for s in subs if s) or time.monotonic() >= deadline,
                    timeout=max(0.0, min(deadline - time.monotonic(), self.stream_seconds)),
                )
                notes = []
                for sub in subs:
                    assert sub is not None
                    if sub.events:
                        events = "".join(
                            f"<t:{kind}><t:TimeStamp>{iso(datetime.now(UTC))}</t:TimeStamp>"
                            f'<t:ItemId Id="{item_id}" ChangeKey="CQAAAA=="/>'
                            f'<t:ParentFolderId Id="{folder_id}" ChangeKey="AQAAAA=="/></t:{kind}>'
                            for kind, item_id, folder_id in sub.events
                        )
                        sub.events.clear()
                        notes.append(
                            f"<m:Notification><t:SubscriptionId>{sub.id}</t:SubscriptionId>"
                            f"{events}</m:Notification>"
                        )
                over = time.monotonic() >= deadline or self.stream_seconds <= 0
            if notes:
                yield _envelope(
                    "GetStreamingEvents",
                    [
                        _success(
                            f"<m:Notifications>{''.join(notes)}</m:Notifications>"
                            "<m:ConnectionStatus>OK</m:ConnectionStatus>"
                        )
                    ],
                )
            if over:
                yield _envelope(
                    "GetStreamingEvents",
                    [_success("<m:ConnectionStatus>Closed</m:ConnectionStatus>")],
                )
                return


def _mime_recipients(mime: str | None) -> set[str]:
    """The To and Cc addresses of a message sent as MIME (Exchange sends it to them)."""
    if not mime:
        return set()
    parsed = email.message_from_bytes(base64.b64decode(mime), policy=email.policy.default)
    values = [str(v) for name in ("To", "Cc") for v in parsed.get_all(name) or []]
    return {address for _name, address in email.utils.getaddresses(values) if address}


#: The element of a meeting message, by its iCalendar METHOD.
_MEETING_ELEMENTS = {
    "REQUEST": "MeetingRequest",
    "CANCEL": "MeetingCancellation",
    "REPLY": "MeetingResponse",
}


def _calendar_method(raw: bytes) -> str | None:
    """The METHOD of the first text/calendar part of ``raw`` (its ``method`` parameter, else
    its METHOD line), or None when it has none."""
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    for part in parsed.walk():
        if part.get_content_type() != "text/calendar":
            continue
        method = part.get_param("method")
        if isinstance(method, str) and method:
            return method.upper()
        try:
            text = str(part.get_content())
        except (LookupError, ValueError):
            return None
        for line in text.splitlines():
            if line.upper().startswith("METHOD:"):
                return line.split(":", 1)[1].strip().upper()
        return None
    return None


def _requested_fields(shape: ET.Element | None) -> set[str]:
    if shape is None:
        return set()
    return {
        uri.get("FieldURI", "") for uri in shape.findall("t:AdditionalProperties/t:FieldURI", NS)
    }


def _mailbox(name: str, address: str) -> str:
    return (
        f"<t:Mailbox><t:Name>{text(name or address)}</t:Name>"
        f"<t:EmailAddress>{text(address)}</t:EmailAddress>"
        "<t:RoutingType>SMTP</t:RoutingType><t:MailboxType>OneOff</t:MailboxType></t:Mailbox>"
    )


def _success(inner: str) -> str:
    return f'ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>{inner}'


def _error(code: str, message: str) -> str:
    return (
        f'ResponseClass="Error"><m:MessageText>{text(message)}</m:MessageText>'
        f"<m:ResponseCode>{code}</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>"
    )


def _envelope(operation: str, parts: list[str]) -> str:
    tag = f"m:{operation}ResponseMessage"
    messages = "".join(f"<{tag} {part}</{tag}>" for part in parts)
    return _soap(
        f'<m:{operation}Response xmlns:m="{M}" xmlns:t="{T}">'
        f"<m:ResponseMessages>{messages}</m:ResponseMessages></m:{operation}Response>"
    )


def _single(operation: str, part: str) -> str:
    return _envelope(operation, [part])


def _soap(body: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAP}">{_HEADER}'
        '<s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xmlns:xsd="http://www.w3.org/2001/XMLSchema">{body}</s:Body></s:Envelope>'
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        self.tls: ssl.SSLContext | None = None

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        if self.tls is not None:
            # The handshake runs in the request's own thread (see _Handler.setup), so a client
            # that refuses the certificate never blocks the accepting loop.
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def drop_connections(self) -> None:
        """Cut every open client connection, as a server going down does."""
        with self.connections_lock:
            for conn in self.connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self.connections.clear()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up (a test closing its mailbox) is not news


class _Handler(BaseHTTPRequestHandler):
    ews: EwsServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: pytest shows failures, not access logs

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            self.request.do_handshake()  # a refused certificate ends the connection here
            self.request.settimeout(None)
        super().setup()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if not self._authorised():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="127.0.0.1"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        envelope = ET.fromstring(body)  # noqa: S314 - the test's own client, on loopback
        soap_body = envelope.find("s:Body", NS)
        assert soap_body is not None and len(soap_body), "empty SOAP body"
        operation = soap_body[0].tag.split("}")[1].removesuffix("Request")
        req = Request(operation, body, soap_body)
        with self.ews._lock:
            self.ews.requests.append(req)
        if operation == "GetStreamingEvents":
            self._stream(req)
            return
        answer = self.ews.handle(req).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def _stream(self, req: Request) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for doc in self.ews.stream(req):
                data = doc.encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True

    def _authorised(self) -> bool:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return False
        return user == self.ews.username and password == self.ews.password

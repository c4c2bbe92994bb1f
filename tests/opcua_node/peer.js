// An independent OPC UA client (node-opcua, a separate implementation from asyncua) for the edge-inspector
// OPC UA server's tests: tests/integration/test_opcua_node_client.py. It prints one JSON object per line.
//
// node peer.js '{"url": "...", "pki": "DIR", "user": "plc", "password": "...", "events": N, "timeoutMs": 120000}'
// (user null: an anonymous session.) Steps, each printed: session, browse (the VisionSystem's children), state
// (CurrentState and its Number), subscribed (ResultReady events on the VisionSystem), one "event" line per event
// until N arrived, last (LastResult), history (HistoryRead of the events). A failure prints {"kind": "error",
// "stage": ..., "message": ...} and exits 3.
"use strict";

const opcua = require("node-opcua-client");
const { OPCUACertificateManager } = require("node-opcua-certificate-manager");

const NAMESPACE = "urn:edge-inspector:machine-vision";
const FIELDS = ["EventId", "Time", "Message", "ResultId", "Station", "RunId", "Seq", "PartId", "Verdict", "Score",
  "Threshold", "BoxCount", "Boxes", "Frame", "CaptureTime", "DecisionTime", "ModelId", "Replayed"];

function say(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function plain(variant) {
  const v = variant ? variant.value : null;
  if (v === null || v === undefined) return null;
  if (Buffer.isBuffer(v)) return v.toString("utf8");
  if (v instanceof Date) return v.toISOString();
  if (typeof v === "object" && "text" in v) return v.text; // LocalizedText
  if (Array.isArray(v) && v.length === 2 && typeof v[0] === "number") return v[0] * 2 ** 32 + v[1]; // Int64
  if (typeof v === "number" && !Number.isFinite(v)) return String(v); // NaN: JSON has no NaN
  return v;
}

function asEvent(fields, names) {
  const out = {};
  names.forEach((name, i) => { out[name.replace(/^\d+:/, "")] = plain(fields[i]); });
  return out;
}

async function main(args) {
  let stage = "connect";
  const fail = (err) => {
    say({ kind: "error", stage, message: String(err && err.message ? err.message : err).slice(0, 500) });
    process.exit(3);
  };
  const timer = setTimeout(() => fail(new Error(`timed out after ${args.timeoutMs} ms`)), args.timeoutMs);
  const certificateManager = new OPCUACertificateManager({ rootFolder: args.pki,
    automaticallyAcceptUnknownCertificate: true });
  const client = opcua.OPCUAClient.create({
    applicationName: "node-opcua-peer", applicationUri: "urn:edge-inspector:node-opcua-peer",
    securityMode: opcua.MessageSecurityMode.SignAndEncrypt, securityPolicy: opcua.SecurityPolicy.Basic256Sha256,
    endpointMustExist: false, connectionStrategy: { maxRetry: 20, initialDelay: 500, maxDelay: 2000 },
    clientCertificateManager: certificateManager, requestedSessionTimeout: 120000,
  });
  try {
    await client.connect(args.url);
    stage = "session";
    const identity = args.user === null ? { type: opcua.UserTokenType.Anonymous }
      : { type: opcua.UserTokenType.UserName, userName: args.user, password: args.password };
    const session = await client.createSession(identity);
    say({ kind: "session" });
    stage = "browse";
    const ns = (await session.readNamespaceArray()).indexOf(NAMESPACE);
    if (ns < 0) throw new Error(`namespace ${NAMESPACE} not offered`);
    const objects = await session.browse("ObjectsFolder");
    const vsRef = objects.references.find((r) => r.browseName.toString() === `${ns}:VisionSystem`);
    if (!vsRef) throw new Error("no VisionSystem under Objects");
    const children = await session.browse(vsRef.nodeId);
    say({ kind: "browse", nodeId: vsRef.nodeId.toString(),
      children: children.references.map((r) => r.browseName.name) });
    stage = "state";
    const path = opcua.makeBrowsePath(vsRef.nodeId, `/${ns}:VisionStateMachine/${ns}:CurrentState`);
    const found = await session.translateBrowsePath(path);
    const stateId = found.targets[0].targetId;
    const numberId = `ns=${ns};s=VisionSystem.VisionStateMachine.CurrentState.Number`;
    const [state, number] = await session.read([{ nodeId: stateId, attributeId: opcua.AttributeIds.Value },
      { nodeId: numberId, attributeId: opcua.AttributeIds.Value }]);
    say({ kind: "state", state: plain(state.value), number: plain(number.value) });

    stage = "subscribe";
    const names = FIELDS.map((f) => (["EventId", "Time", "Message"].includes(f) ? f : `${ns}:${f}`));
    const filter = opcua.constructEventFilter(names, [opcua.resolveNodeId(`ns=${ns};s=ResultReadyEventType`)]);
    const subscription = await session.createSubscription2({ requestedPublishingInterval: 100,
      requestedLifetimeCount: 1000, requestedMaxKeepAliveCount: 10, maxNotificationsPerPublish: 1000,
      publishingEnabled: true, priority: 1 });
    const item = await subscription.monitor({ nodeId: vsRef.nodeId, attributeId: opcua.AttributeIds.EventNotifier },
      { samplingInterval: 0, discardOldest: false, queueSize: 10000, filter }, opcua.TimestampsToReturn.Neither);
    let seen = 0;
    const done = new Promise((resolve) => {
      item.on("changed", (fields) => {
        say({ kind: "event", ...asEvent(fields, names) });
        seen += 1;
        if (seen >= args.events) resolve();
      });
      if (args.events <= 0) resolve();
    });
    say({ kind: "subscribed" });
    stage = "events";
    await done;

    stage = "last";
    const last = await session.read(["Seq", "Verdict", "RunId"].map((f) => ({
      nodeId: `ns=${ns};s=VisionSystem.ResultManagement.LastResult.${f}`, attributeId: opcua.AttributeIds.Value })));
    say({ kind: "last", Seq: plain(last[0].value), Verdict: plain(last[1].value), RunId: plain(last[2].value) });
    stage = "history";
    const history = await session.historyRead(new opcua.HistoryReadRequest({
      historyReadDetails: new opcua.ReadEventDetails({ startTime: new Date(Date.UTC(2000, 0, 1)),
        endTime: new Date(Date.now() + 3600e3), numValuesPerNode: 0, filter }),
      timestampsToReturn: opcua.TimestampsToReturn.Neither, releaseContinuationPoints: false,
      nodesToRead: [{ nodeId: vsRef.nodeId }] }));
    const result = history.results[0];
    if (result.statusCode.value !== 0) throw new Error(`HistoryRead: ${result.statusCode.toString()}`);
    const events = (result.historyData.events || []).map((e) => asEvent(e.eventFields, names));
    say({ kind: "history", events });
    await subscription.terminate();
    await session.close();
    await client.disconnect();
    clearTimeout(timer);
    say({ kind: "done" });
  } catch (err) {
    fail(err);
  }
}

main(JSON.parse(process.argv[2]));

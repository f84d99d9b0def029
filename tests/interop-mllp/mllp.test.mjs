// node-hl7-client (an MLLP client no one here wrote) sends every shared HL7 v2 sample to a
// running carerecord (`serve --mllp`) and checks each ACK: AA with MSA-2 = the sample's MSH-10
// for the first message under a facility and control id (and for a resend of the same bytes),
// AE for the same control id with other content (the samples reuse some), AR when no feed names
// the facility (six samples have no MSH-4), the accept ACK CA/CE/CR or silence in enhanced mode,
// and after it the application ACK MSH-16 asks for, on the same connection. run.sh starts the
// server and adds a feed for each sample facility.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import Client, { Message } from "node-hl7-client";

const port = Number(process.env.CARERECORD_MLLP_PORT);
const samplesDir = process.env.CARERECORD_HL7V2_SAMPLES;

// A sample as sent on the wire: segments ended by \r, no byte order mark, no trailing blank line.
function wireText(file) {
  let text = fs.readFileSync(file, "utf8").replace(/^\uFEFF/, "");
  return text.split(/\r\n|\n|\r/).filter((line) => line.trim() !== "").join("\r");
}

function mshField(text, n) {
  const msh = text.split("\r")[0];
  const separator = msh[3];
  return msh.split(separator)[n - 1] ?? "";
}

function firstComponent(value, text) {
  const componentSeparator = text.split("\r")[0][4];
  return value.split(componentSeparator)[0];
}

// Sends each message on one connection of a client for its version, one at a time, and returns
// the ACK texts in order.
async function sendAll(version, texts) {
  const acks = [];
  const client = new Client({ host: "127.0.0.1", version });
  let resolveAck;
  const connection = client.createConnection({ port, waitAck: true, maxConnectionAttempts: 3 },
    async (res) => { resolveAck(res.getMessage().toString()); });
  for (const text of texts) {
    let timer;
    const ack = new Promise((resolve, reject) => {
      resolveAck = resolve;
      timer = setTimeout(() => reject(new Error("no ACK within 20 s")), 20000);
    });
    await connection.sendMessage(new Message({ text }));
    acks.push(await ack.finally(() => clearTimeout(timer)));
  }
  await connection.close();
  return acks;
}

// What the listener answers first, by MSH-15/16 (table 0155): original mode always AA/AE/AR;
// enhanced mode the accept ACK (CA/CE/CR) when its condition holds, else nothing.
function expectedAnswer(text, outcome) {
  const accept = mshField(text, 15);
  const application = mshField(text, 16);
  if (accept === "" && application === "") return outcome;
  const accepted = outcome === "AA";
  const condition = ["AL", "NE", "ER", "SU"].includes(accept) ? accept : "AL";
  const wanted = condition === "AL" || (condition === "ER" && !accepted) ||
    (condition === "SU" && accepted);
  return wanted ? "C" + outcome[1] : null;
}

// The application ACK an accepted enhanced-mode message asks for (MSH-16; empty or unknown is
// AL), or null in original mode.
function applicationCondition(text) {
  const accept = mshField(text, 15);
  const application = mshField(text, 16);
  if (accept === "" && application === "") return null;
  return ["AL", "NE", "ER", "SU"].includes(application) ? application : "AL";
}

function msaOf(ack) {
  const msa = ack.split("\r").find((s) => s.startsWith("MSA")) ?? "";
  const [, code, controlId] = msa.split(ack[3]);
  return { msa, code: code ?? "", controlId: controlId ?? "" };
}

// A message of the test's own (facility INTEROP-PROBE) in enhanced mode asking for both ACKs.
function probeText(version, controlId) {
  return `MSH|^~\\&|PAS|INTEROP-PROBE|CR|CR|20260301101500+0000||ADT^A01^ADT_A01|${controlId}|P|` +
    `${version}|||AL|AL\rEVN|A01|20260301101500+0000\rPID|1||IOP900^^^IOPPAS^MR||PROBE^PAT||` +
    "19800214|F";
}

// Sends every message on one connection that does not wait for ACKs, then a probe, and returns
// every frame received until the probe's application ACK, in order. The listener answers a
// connection's messages in the order they came, and its application ACKs follow in that order
// too (the worker maps messages oldest first), so the probe's application ACK comes last.
async function sendAllAndProbe(version, texts, probeId = `IOP-PROBE-${version}`) {
  const frames = [];
  let check = () => {};
  const client = new Client({ host: "127.0.0.1", version });
  const connection = client.createConnection({ port, waitAck: false, maxConnectionAttempts: 3 },
    async (res) => { frames.push(res.getMessage().toString()); check(); });
  for (const text of texts) await connection.sendMessage(new Message({ text }));
  await connection.sendMessage(new Message({ text: probeText(version, probeId) }));
  let timer;
  await new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`version ${version}: no application ACK for the ` +
      `probe within 60 s; ${frames.length} frame(s)`)), 60000);
    check = () => {
      const last = frames.length > 0 ? msaOf(frames[frames.length - 1]) : null;
      if (last && last.controlId === probeId && last.code[0] === "A") resolve();
    };
    check();
  }).finally(() => clearTimeout(timer));
  await connection.close();
  return { frames, probeId };
}

test("every shared sample is answered as its facility, control id and MSH-15/16 say", async (t) => {
  if (!samplesDir || !fs.existsSync(samplesDir)) {
    t.skip("no ../shared/data/hl7v2 samples");
    return;
  }
  const files = fs.readdirSync(samplesDir).filter((f) => f.endsWith(".hl7")).sort();
  assert.ok(files.length > 0);
  const seen = new Map(); // facility|control id -> text first sent
  const byVersion = new Map();
  for (const file of files) {
    const text = wireText(path.join(samplesDir, file));
    const version = firstComponent(mshField(text, 12), text);
    if (!byVersion.has(version)) byVersion.set(version, []);
    const facility = firstComponent(mshField(text, 4), text);
    const key = `${facility}|${mshField(text, 10)}`;
    let outcome = facility === "" ? "AR" : "AA";
    if (seen.has(key) && seen.get(key) !== text) outcome = "AE";
    if (!seen.has(key)) seen.set(key, text);
    byVersion.get(version).push({ file, text, outcome, expected: expectedAnswer(text, outcome) });
  }
  let checked = 0;
  let applicationAcks = 0;
  for (const [version, samples] of byVersion) {
    const { frames, probeId } = await sendAllAndProbe(version, samples.map((s) => s.text));
    // The first answers, in order; and the application ACKs that accepted enhanced-mode
    // messages ask for, each after its message's first answer: AL always (AA mapped, AE in the
    // error queue, AR a type not mapped), ER only AE/AR, SU only AA.
    const firsts = samples.filter((s) => s.expected !== null);
    const waiting = samples.filter((s) => s.outcome === "AA" && applicationCondition(s.text) &&
      applicationCondition(s.text) !== "NE" && s.expected === null);
    const afterFirst = samples.filter((s) => s.outcome === "AA" && applicationCondition(s.text) &&
      applicationCondition(s.text) !== "NE" && s.expected !== null);
    for (const frame of frames) {
      const { msa, code, controlId } = msaOf(frame);
      if (controlId === probeId) {
        if (code[0] === "A") assert.equal(frame, frames[frames.length - 1], "the probe's is last");
        continue;
      }
      const head = firsts[0];
      if (head && controlId === mshField(head.text, 10) && code === head.expected) {
        assert.equal(mshField(frame, 12).split(frame[4])[0], version, `${head.file}: ACK version`);
        firsts.shift();
        const i = afterFirst.indexOf(head);
        if (i >= 0) waiting.push(...afterFirst.splice(i, 1));
        checked++;
        continue;
      }
      const i = waiting.findIndex((s) => mshField(s.text, 10) === controlId);
      assert.ok(i >= 0, `version ${version}: an answer nothing asked for (yet): ${msa}`);
      const [sample] = waiting.splice(i, 1);
      const condition = applicationCondition(sample.text);
      assert.ok(["AA", "AE", "AR"].includes(code), `${sample.file}: ${msa}`);
      if (condition === "ER") assert.notEqual(code, "AA", `${sample.file}: ER and ${msa}`);
      if (condition === "SU") assert.equal(code, "AA", `${sample.file}: SU and ${msa}`);
      applicationAcks++;
    }
    assert.equal(firsts.length, 0, `version ${version}: unanswered: ` +
      firsts.map((s) => s.file).join(", "));
    const missing = waiting.filter((s) => applicationCondition(s.text) === "AL");
    assert.equal(missing.length, 0, `version ${version}: no application ACK for ` +
      missing.map((s) => s.file).join(", "));
    checked += samples.filter((s) => s.expected === null).length;
  }
  assert.equal(checked, files.length);
  assert.ok(applicationAcks > 0, "the samples in enhanced mode asking for one had an application ACK");
});

test("an enhanced-mode sender hears the accept ACK, then the application ACK, on one connection",
  async () => {
    const { frames } = await sendAllAndProbe("2.5.1", [], "IOP-ENHANCED-1");
    assert.deepEqual(frames.map((f) => msaOf(f).msa), ["MSA|CA|IOP-ENHANCED-1", "MSA|AA|IOP-ENHANCED-1"]);
  });

// After sending, the record holds what the messages said, found through the FHIR API with a
// token a registered client gets from the token endpoint (run.sh adds the client and a feed for
// facility INTEROP): the Patient by its source identifier, its Encounter, and the ORU's
// Observation, mapped by the server's inbox worker behind the ACK.
const httpPort = process.env.CARERECORD_HTTP_PORT;
const clientId = process.env.CARERECORD_CLIENT_ID;
const clientSecret = process.env.CARERECORD_CLIENT_SECRET;

async function accessToken() {
  const response = await fetch(`http://127.0.0.1:${httpPort}/auth/token`, {
    method: "POST",
    headers: {
      Authorization: "Basic " + Buffer.from(`${clientId}:${clientSecret}`).toString("base64"),
      "Content-Type": "application/x-www-form-urlencoded",
    },
    body: "grant_type=client_credentials",
  });
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()).access_token;
}

// The resources of `type` matching `query`, retried until `count` match (mapping follows the ACK
// by a moment) or 20 s pass.
async function findResources(token, type, query, count = 1) {
  const url = `http://127.0.0.1:${httpPort}/fhir/${type}?${query}`;
  let found = [];
  for (let i = 0; i < 200; i++) {
    const response = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(response.status, 200, `${url}: ${await response.clone().text()}`);
    found = ((await response.json()).entry ?? []).map((e) => e.resource);
    if (found.length >= count) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`${url}: ${found.length} match(es) after 20 s, wanted ${count}`);
}

test("the mapped resources are found through the FHIR API", async (t) => {
  if (!httpPort || !clientId) {
    t.skip("no HTTP port or client given");
    return;
  }
  // A segment from its fields by number.
  const seg = (id, fields) => {
    const last = Math.max(...Object.keys(fields).map(Number));
    const out = [id];
    for (let n = 1; n <= last; n++) out.push(fields[n] ?? "");
    return out.join("|");
  };
  const adt = [
    "MSH|^~\\&|PAS|INTEROP|CR|CR|20260301101500+0000||ADT^A01^ADT_A01|IOP-ADT-1|P|2.5.1",
    "EVN|A01|20260301101500+0000",
    seg("PID", {
      1: "1", 3: "IOP100^^^IOPPAS^MR~9434765919^^^NHS^NH", 5: "INTEROP^ALICE^^^^^L",
      7: "19800214", 8: "F", 11: "1 HIGH STREET^^POOLE^DORSET^BH15 2JB^GBR^H",
    }),
    seg("PV1", {
      1: "1", 2: "I", 3: "WARD7^BAY1^BED1", 7: "C1234^BROWN^ALICE^^^DR",
      19: "IOPV1^^^IOPPAS^VN", 44: "20260301093000+0000",
    }),
  ].join("\r");
  const oru = [
    "MSH|^~\\&|LAB|INTEROP|CR|CR|20260301120000+0000||ORU^R01^ORU_R01|IOP-ORU-1|P|2.5.1",
    seg("PID", { 1: "1", 3: "IOP100^^^IOPPAS^MR", 5: "INTEROP^ALICE^^^^^L", 7: "19800214", 8: "F" }),
    seg("OBR", { 1: "1", 3: "FIOP1^IOPLAB", 4: "UE^U and E^LOCAL", 7: "20260301113000+0000", 25: "F" }),
    seg("OBX", {
      1: "1", 2: "NM", 3: "2823-3^Potassium^LN", 5: "4.2", 6: "mmol/L", 7: "3.5-5.3", 8: "N", 11: "F",
    }),
  ].join("\r");
  const acks = await sendAll("2.5.1", [adt, oru]);
  for (const [i, id] of ["IOP-ADT-1", "IOP-ORU-1"].entries()) {
    const msa = acks[i].split("\r").find((s) => s.startsWith("MSA")) ?? "";
    assert.equal(msa, `MSA|AA|${id}`);
  }

  const token = await accessToken();
  const source = "urn:carerecord:source:RDZ";
  const [patient] = await findResources(token, "Patient",
    `identifier=${encodeURIComponent(`${source}:mrn:IOPPAS|IOP100`)}`);
  assert.equal(patient.name[0].family, "INTEROP");
  assert.equal(patient.name[0].given[0], "ALICE");
  assert.equal(patient.birthDate, "1980-02-14");
  assert.equal(patient.gender, "female");
  assert.ok(patient.identifier.some((i) => i.system === "https://fhir.nhs.uk/Id/nhs-number" &&
    i.value === "9434765919"), JSON.stringify(patient.identifier));
  assert.equal(patient.meta.source, "urn:carerecord:feed:interop#IOP-ADT-1");

  const [encounter] = await findResources(token, "Encounter",
    `identifier=${encodeURIComponent(`${source}:visit:IOPPAS|IOPV1`)}`);
  assert.equal(encounter.status, "in-progress");
  assert.equal(encounter.class.code, "IMP");
  assert.equal(encounter.subject.reference, `Patient/${patient.id}`);
  assert.equal(encounter.period.start, "2026-03-01T09:30:00+00:00");

  const [observation] = await findResources(token, "Observation",
    `patient=${patient.id}&code=${encodeURIComponent("http://loinc.org|2823-3")}`);
  assert.equal(observation.status, "final");
  assert.equal(observation.valueQuantity.value, 4.2);
  assert.equal(observation.valueQuantity.system, "http://unitsofmeasure.org");
  assert.equal(observation.valueQuantity.code, "mmol/L");
  assert.equal(observation.subject.reference, `Patient/${patient.id}`);
  assert.equal(observation.meta.source, "urn:carerecord:feed:interop#IOP-ORU-1");
});

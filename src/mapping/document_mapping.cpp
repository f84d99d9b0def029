// MDM: a DocumentReference per document (TXA), its content (OBX text lines, ED attachments) as
// Binary resources, replacements (T08, T10) and cancellation (T11).
#include <openssl/evp.h>

#include <cctype>
#include <cstdio>
#include <string>
#include <string_view>

#include "mapping/mapping_context.h"

namespace carerecord::mapping::internal {

namespace json = boost::json;
using hl7v2::ErrorCondition;

namespace {

std::string Sha256Hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
  std::string hex;
  char buf[3];
  for (unsigned int i = 0; i < length; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", digest[i]);
    hex += buf;
  }
  return hex;
}

std::string Base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// The decoded size of base64 text, or nullopt when it is not base64.
std::optional<size_t> Base64DecodedSize(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  for (char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/' && c != '=') {
      return std::nullopt;
    }
  }
  const size_t padding = text.substr(text.size() - 2).find('=') == std::string_view::npos ? 0
                         : text.back() == '=' && text[text.size() - 2] == '='             ? 2
                                                                                          : 1;
  if (text.find('=') < text.size() - padding) return std::nullopt;
  return text.size() / 4 * 3 - padding;
}

std::string_view DocStatus(std::string_view completion) {  // HL7 table 0271
  if (completion == "AU" || completion == "LA") return "final";
  if (completion == "DI" || completion == "DO" || completion == "IN" || completion == "IP" ||
      completion == "PA") {
    return "preliminary";
  }
  return {};
}

struct Content {
  std::string content_type;
  std::string base64;
  size_t size = 0;
};

// The document's content: OBX text lines (TX, FT, ST) joined as one text/plain part, and each
// ED value as a part of its own type. False when something could not be read.
bool ReadContent(MappingContext& ctx, std::vector<Content>& parts) {
  std::string text;
  bool has_text = false;
  for (hl7v2::SegmentView segment : ctx.message()) {
    if (segment.id() != "OBX") continue;
    FieldReader r = ctx.Reader(segment);
    const std::string type = r.Text(2);
    if (type == "TX" || type == "FT" || type == "ST") {
      for (size_t rep = 1; rep <= r.Repetitions(5); ++rep) {
        if (has_text) text += '\n';
        text += r.Text(5, rep, 1);
        has_text = true;
      }
    } else if (type == "ED") {
      const std::string encoding = r.Text(5, 1, 4), data = r.Text(5, 1, 5);
      if (data.empty()) {
        ctx.Warn(segment.Location(5).ToString() + ": an ED value with no data is left out");
        continue;
      }
      auto size = Base64DecodedSize(data);
      if (encoding != "Base64" || !size) {
        ctx.Fail(ErrorCondition::kDataTypeError, segment.Location(5, 1, 5),
                 encoding != "Base64"
                     ? "ED encoding '" + encoding + "' is not supported (Base64 is)"
                     : std::string("the ED data is not base64"));
        return false;
      }
      std::string media = r.Text(5, 1, 2), subtype = r.Text(5, 1, 3);
      if (media.empty() || media == "AP" || media == "Application") media = "application";
      if (subtype.empty()) subtype = "octet-stream";
      for (char& c : media) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      for (char& c : subtype) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      parts.push_back(Content{media + "/" + subtype, data, *size});
    } else {
      ctx.Warn(segment.Location(2).ToString() + ": OBX of type " + type +
               " is not document content and is left out");
    }
  }
  if (ctx.error()) return false;
  if (has_text) {
    parts.insert(parts.begin(), Content{"text/plain; charset=utf-8", Base64(text), text.size()});
  }
  return true;
}

}  // namespace

void MapDocument(MappingContext& ctx) {
  const std::string& trigger = ctx.message().header().trigger_event;
  auto msh = ctx.message().FindSegment("MSH");
  const bool with_content = trigger == "T02" || trigger == "T04" || trigger == "T06" ||
                            trigger == "T08" || trigger == "T10";
  if (!with_content && trigger != "T11") {
    ctx.Fail(ErrorCondition::kUnsupportedEventCode, msh->Location(9, 1, 2),
             "MDM event " + trigger +
                 " is not mapped (T02, T04, T06, T08, T10 with content, and T11 are; a "
                 "notification without content has nothing to store)");
    return;
  }
  auto pid = ctx.message().FindSegment("PID");
  auto txa = ctx.message().FindSegment("TXA");
  if (!pid || !txa) {
    ctx.Fail(ErrorCondition::kSegmentSequenceError, msh->Location(),
             std::string("MDM^") + trigger + " has no " + (pid ? "TXA" : "PID") + " segment");
    return;
  }
  FieldReader t = ctx.Reader(*txa);
  const std::string number = t.Text(12, 1, 1);
  if (number.empty()) {
    ctx.Fail(ErrorCondition::kRequiredFieldMissing, txa->Location(12),
             "the unique document number (TXA-12) is empty");
    return;
  }
  const std::string system = ctx.System("document", t.Text(12, 1, 2));
  if (trigger == "T11") {  // cancel: the stored document is entered in error, nothing else
    MappedResource cancel;
    cancel.type = "DocumentReference";
    cancel.identity_system = system;
    cancel.identity_value = number;
    cancel.mode = WriteMode::kPatchExisting;
    cancel.resource = json::object{{"status", "entered-in-error"}};
    ctx.Add(std::move(cancel));
    return;
  }
  auto patient = ctx.MapPatient(*pid, WriteMode::kCreateIfAbsent);
  if (!patient) return;
  std::vector<Content> parts;
  if (!ReadContent(ctx, parts)) return;
  if (parts.empty()) {
    ctx.Fail(ErrorCondition::kRequiredFieldMissing, txa->Location(),
             "MDM^" + trigger + " carries no document content (no OBX with text or ED data)");
    return;
  }

  json::object document{{"resourceType", "DocumentReference"}};
  json::object identifier{{"system", system}, {"value", number}};
  document["masterIdentifier"] = identifier;
  document["identifier"] = json::array{identifier};
  document["status"] = "current";
  if (auto status = DocStatus(t.Text(17)); !status.empty()) document["docStatus"] = status;
  if (const std::string type = t.Text(2, 1, 1); !type.empty()) {
    document["type"] =
        Concept("http://terminology.hl7.org/CodeSystem/v2-0270", type, t.Text(2, 1, 2));
  }
  document["subject"] = json::object{{"reference", patient->reference}};
  std::optional<std::string> date = ctx.TimeField(t, 4, "the activity time", true);
  if (!date) date = ctx.TimeField(t, 6, "the transcription time", true);
  if (!date) date = ctx.Instant(ctx.message().header().date_time);
  if (date) document["date"] = *date;
  json::array authors;
  for (size_t field : {9, 5}) {
    for (size_t rep = 1; rep <= t.Repetitions(field); ++rep) {
      json::object who = ReadClinicianReference(t, field, rep, ctx.StaffSystem());
      if (!who.empty()) authors.emplace_back(std::move(who));
    }
  }
  if (!authors.empty()) document["author"] = std::move(authors);
  json::object authenticator = ReadClinicianReference(t, 22, 1, ctx.StaffSystem());
  PutIfAny(document, "authenticator", std::move(authenticator));
  document["custodian"] = ctx.OrganisationReference();
  const std::string parent = t.Text(13, 1, 1);
  const std::string parent_system = ctx.System("document", t.Text(13, 1, 2));
  const bool replaces = (trigger == "T08" || trigger == "T10") && !parent.empty() &&
                        (parent != number || parent_system != system);
  if ((replaces || trigger == "T06") && !parent.empty()) {
    document["relatesTo"] = json::array{json::object{
        {"code", trigger == "T06" ? "appends" : "replaces"},
        {"target", json::object{{"type", "DocumentReference"},
                                {"identifier",
                                 json::object{{"system", parent_system}, {"value", parent}}}}}}};
  }
  json::object visit = ctx.VisitReference();
  if (!visit.empty()) {
    document["context"] = json::object{{"encounter", json::array{std::move(visit)}}};
  }
  json::array content;
  std::vector<std::string> binary_ids;
  for (size_t i = 0; i < parts.size(); ++i) {
    // A Binary has no identifier to be found by: its id is derived from the document's identity.
    binary_ids.push_back(
        fhir::kFeedBinaryIdPrefix +
        Sha256Hex(system + "|" + number + "|" + std::to_string(i + 1)).substr(0, 40));
    content.emplace_back(
        json::object{{"attachment", json::object{{"contentType", parts[i].content_type},
                                                 {"url", "Binary/" + binary_ids.back()},
                                                 {"size", parts[i].size}}}});
  }
  document["content"] = std::move(content);

  MappedResource resource;
  resource.type = "DocumentReference";
  resource.identity_system = system;
  resource.identity_value = number;
  resource.resource = std::move(document);
  const std::string reference = ctx.Add(std::move(resource));
  for (size_t i = 0; i < parts.size(); ++i) {
    MappedResource binary;
    binary.type = "Binary";
    binary.fixed_id = binary_ids[i];
    binary.resource = json::object{{"resourceType", "Binary"},
                                   {"contentType", parts[i].content_type},
                                   {"securityContext", json::object{{"reference", reference}}},
                                   {"data", std::move(parts[i].base64)}};
    ctx.Add(std::move(binary));
  }
  if (replaces) {  // the replaced document is superseded, if this record holds it
    MappedResource superseded;
    superseded.type = "DocumentReference";
    superseded.identity_system = parent_system;
    superseded.identity_value = parent;
    superseded.mode = WriteMode::kPatchExisting;
    superseded.resource = json::object{{"status", "superseded"}};
    ctx.Add(std::move(superseded));
  }
}

}  // namespace carerecord::mapping::internal

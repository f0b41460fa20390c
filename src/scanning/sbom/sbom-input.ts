// Everything an SBOM writer needs, passed in whole so that the writers are pure functions: the
// same input always yields the same document, byte for byte once serialised.
import type { ImageInventory } from '../packages/package.js';

export interface SbomInput {
  /** The analysed image: repository name, manifest digest and, if known, the tag it was pushed as. */
  image: { repository: string; digest: string; reference?: string };
  inventory: ImageInventory;
  /** Creation time written into the document; pass the analysis time, not "now", for reproducibility. */
  created: Date;
  tool: { name: string; version: string };
  /** Base URI of this registry's SBOMs, e.g. https://registry.example.com/sbom. */
  namespaceBase: string;
}

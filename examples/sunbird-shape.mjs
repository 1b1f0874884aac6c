// The part of Sunbird's document shaping that no declaration covers (examples/sunbird.yaml,
// `transform.module`): given the document as declared (renamed, parsed, nested), return the one
// to index. Runs once per document; a throw sends that document to the failure ledger.
//
// Sunbird's user-org service sets, for a user, `identifier` (the id) and `stateValidated` (bit 4
// of flagsValue: 1 phone verified, 2 email verified, 4 state validated); for an organisation,
// `identifier` and `hashTagId` (the id when the row has none).
export default function shape(document, { id, pipeline }) {
  if (pipeline === 'organisation') {
    return { ...document, hashTagId: document.hashTagId ?? id, identifier: id };
  }
  const flags = document.flagsValue ?? 0;
  return { ...document, identifier: id, stateValidated: (flags & 4) === 4 };
}

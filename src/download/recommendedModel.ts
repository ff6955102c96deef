// The real model a new user is offered first (the bundled one has random weights): CodeGen-350M-mono, the
// paper's smallest Python model, in 8 bits. One place for it: the panel's first-run notice, the Download command's
// default, and the messages that say where to get a model.
export const RECOMMENDED_MODEL = {
  repo: 'Xenova/codegen-350M-mono',
  /** What the panel calls it. */
  name: 'CodeGen-350M-mono',
  /** 8-bit variants, best first: the newer layout's int8 file (358 MB), or the older merged export's (373 MB). */
  variants: ['model_int8', 'model_quantized', 'decoder_model_merged_quantized'],
  /** The download, as the hub lists it (the variant and the small JSON files). */
  size: 'about 360 MB',
} as const;

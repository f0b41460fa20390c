// Palisade's version, in one place: the CLI prints it and generated SBOMs name it as their tool.
export const PALISADE_VERSION = '0.1.0';

"""Importers: semantic IDs and quantizers made by other tools, turned into run folders.

In: an ID table (Parquet / CSV with one column per level, LC-Rec ``*.index.json``) or another
RQ-VAE codebase's ``torch.save`` checkpoint (LC-Rec / LETTER / MiniOneRec, RQ-VAE-Recommender,
semantic-ids-llm, GRID). Out: a run folder of kind ``imported-ids``
(:mod:`~rqvae.importers.import_ids`) or ``imported-checkpoint``
(:mod:`~rqvae.importers.import_checkpoint`: a stored quantizer rebuilt from the tensors, then
assigned like our own runs). ``torch.save`` files are read by
:mod:`~rqvae.importers.torch_file`, which checks every storage and tensor against the file
before allocating it, with the restricted unpickler (:mod:`~rqvae.importers.safe_unpickle`),
which runs no code from the file and bounds its work; :mod:`~rqvae.importers.module_tree` reads
the encoder's activation from a pickled model. The tool's own IDs, when given, are kept beside
ours (:mod:`~rqvae.importers.source_ids`).
"""

module ocidiff.invalid/jsonread

go 1.21

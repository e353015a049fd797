module ocidiff.invalid/tarread

go 1.21

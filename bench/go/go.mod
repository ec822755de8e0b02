module ringo/bench

go 1.19

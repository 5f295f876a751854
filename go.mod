module github.com/imagegen-go/imagegen

go 1.26

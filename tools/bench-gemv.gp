# Plot a bench-gemv run: time per GEMV and error against bits per weight,
# cxlms (one INT8 store read at k = 8..2) and ggml (one copy per type) on the
# same axes.  gnuplot -e "in='build/bench/gemv-8192x8192'; out='docs/performance-gemv.png'" tools/bench-gemv.gp
# Reads in-t1.dat and in-t2.dat (bench-gemv --dat PREFIX writes PREFIX-RxC-tN.dat):
# blocks 0 cxlms f32-act, 1 cxlms q8-act, 2 ggml plain, 3 ggml repacked;
# columns bpw us rel_err label.
if (!exists("in")) in = 'build/bench/gemv-8192x8192'
if (!exists("out")) out = 'docs/performance-gemv.png'
if (!exists("shape")) shape = '8192 x 8192'
set terminal pngcairo size 1500,560 font ",10" noenhanced
set output out
set grid
set key below
set xlabel 'bits per weight (bytes read x 8 / weights)'
set xrange [1.8:9]
set multiplot layout 1,3 title "GEMV ".shape.", weights cycled past the LLC: cxlms from one bit-plane store vs ggml on a copy per type"
set ylabel 'us per GEMV (median, log scale)'
set logscale y
do for [t in "1 2"] {
	set title t.' thread'.(t eq "1" ? '' : 's')
	plot in.'-t'.t.'.dat' index 0 u 1:2 w lp pt 7 t 'cxlms f32 activations', \
	     '' index 1 u 1:2 w lp pt 5 t 'cxlms q8 activations', \
	     '' index 2 u 1:2 w p pt 9 ps 1.5 t 'ggml', \
	     '' index 2 u 1:2:4 w labels offset 0,1 notitle, \
	     '' index 3 u 1:2 w p pt 11 ps 1.5 t 'ggml repacked (llama.cpp default)', \
	     '' index 3 u 1:2:4 w labels offset 0,-1 tc rgb 'gray40' notitle
}
set title 'relative L2 error of y against an f32 GEMV'
set ylabel 'relative error'
plot in.'-t1.dat' index 0 u 1:3 w lp pt 7 t 'cxlms f32 activations', \
     '' index 1 u 1:3 w lp pt 5 t 'cxlms q8 activations', \
     '' index 2 u 1:3 w p pt 9 ps 1.5 t 'ggml (activations to Q8)', \
     '' index 2 u 1:3:4 w labels offset 0,1 notitle
unset multiplot

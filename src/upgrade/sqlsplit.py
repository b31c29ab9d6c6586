import re
def split(text):
    """Split a SQL script into statements; each is (leading_comments, stmt)."""
    out=[]; i=0; n=len(text); start=0
    while i<n:
        c=text[i]
        if c=="'":
            i+=1
            while i<n:
                if text[i]=="'" and i+1<n and text[i+1]=="'": i+=2; continue
                if text[i]=="'": break
                i+=1
            i+=1; continue
        if c=='"':
            j=text.index('"',i+1); i=j+1; continue
        if c=='-' and text.startswith('--',i):
            j=text.find('\n',i); i=n if j<0 else j+1; continue
        if c=='/' and text.startswith('/*',i):
            j=text.index('*/',i+2); i=j+2; continue
        if c=='$':
            m=re.match(r'\$([A-Za-z_][A-Za-z_0-9]*)?\$',text[i:])
            if m and not (i>0 and (text[i-1].isalnum() or text[i-1]=='_')):
                tag=m.group(0); j=text.index(tag,i+len(tag)); i=j+len(tag); continue
        if c==';':
            out.append(text[start:i+1]); start=i+1
        i+=1
    rest=text[start:]
    if rest.strip(): out.append(rest)
    res=[]
    for s in out:
        # separate leading comments/blank lines
        lines=s.split('\n'); lead=[]
        while lines and (lines[0].strip()=='' or lines[0].lstrip().startswith('--')):
            lead.append(lines.pop(0))
        body='\n'.join(lines).strip()
        if body=='' : continue
        res.append(('\n'.join(lead).strip('\n'),body))
    return res
def norm(s): return re.sub(r'\s+',' ',s).strip()
